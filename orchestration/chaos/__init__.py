"""``rayarb chaos``: the whole system on a local Ray against simulator venues while a seeded schedule injects faults
(``schedule``), applied by ``injectors``; afterwards every invariant (``invariants``) is checked against the venues'
own records and the journal; ``campaign`` runs it, ``table`` shows the figures."""

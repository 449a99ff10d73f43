"""Local spot venues for rayarb: a dialect-free core (``core``: books, matching, accounts, fees, transport, faults,
``/_sim/``), the synthetic market shared by all venues (``market``), configuration (``config``), and one front-end per
exchange dialect (``binance``, ``okx``) that lets unmodified ccxt trade against a venue as it would the real exchange."""

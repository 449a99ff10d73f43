"""Orders at one venue, one job per module:

- ``lifecycle``: the transition table of order statuses and ``Order``, changed only by ``Order.apply(event)``.
- ``validation``: checks before anything is sent, each refusal a specific ``OrderValidationError``.
- ``ids``: client order ids made locally (``ClientOrderIdFactory``).
- ``manager``: ``OrderManager``: create (journal, then send), apply what the venue says, cancel.
- ``reconcile``: lookups by client order id, lost orders, resubmission within the TTL, expiry, ``reconcile``.

The seed's names stay importable from ``execution.order_manager``.
"""

"""The dialect-free core of a simulated venue: books, accounts, matching, fees and the venue server's transport
(listening, faults, ``/_sim/`` controls, WebSocket fan-out). Dialect front-ends live in ``simulator.binance`` and
``simulator.okx``."""

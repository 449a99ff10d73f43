"""Binance spot v3 dialect of the simulator: ``engine`` (the REST semantics on the core engine) and ``server`` (REST
transport, signing, errors and the diff-depth stream)."""

"""OKX v5 spot dialect of the simulator: ``engine`` (OKX's REST semantics and ``books`` messages on the core engine)
and ``server`` (REST transport, OKX signing and envelope, the public WebSocket)."""

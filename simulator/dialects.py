"""The dialects a simulated venue can speak, and what each is made of: an engine class (the core engine plus the
dialect's semantics) and a server class (the core transport plus the dialect's REST, signing, errors and stream).

Adding a dialect is adding a front-end package (``simulator/<name>/``) and one line here; see docs/simulator.md.
"""
from __future__ import annotations

import importlib
from typing import Any

DEFAULT_DIALECT = "binance"

# dialect -> (module of its engine class, engine class name, module of its server class, server class name)
_FRONT_ENDS: dict[str, tuple[str, str, str, str]] = {
    "binance": ("simulator.binance.engine", "BinanceEngine", "simulator.binance.server", "BinanceServer"),
    "okx": ("simulator.okx.engine", "OkxEngine", "simulator.okx.server", "OkxServer"),
}
DIALECTS: tuple[str, ...] = tuple(_FRONT_ENDS)


def front_end(dialect: str) -> tuple[Any, Any]:
    """(engine class, server class) of ``dialect``; ``ValueError`` for a dialect the simulator does not speak."""
    if dialect not in _FRONT_ENDS:
        raise ValueError(f"unknown dialect {dialect!r}; known: {', '.join(DIALECTS)}")
    engine_module, engine_name, server_module, server_name = _FRONT_ENDS[dialect]
    return (getattr(importlib.import_module(engine_module), engine_name),
            getattr(importlib.import_module(server_module), server_name))

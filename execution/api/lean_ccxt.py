"""ccxt's packages without their every-exchange imports.

``import ccxt`` runs a package ``__init__`` that imports each of the ~100 exchange classes ccxt has; ``ccxt.pro`` runs
three of them (``ccxt``, ``ccxt.async_support``, ``ccxt.pro``): ~0.5 s of CPU and ~50 MiB in every process that
builds a client, for the one or two exchanges it uses (BENCHMARKS.md, recovery). ``install`` puts in their place
package modules with the same names in them, each loaded when first asked for, as the ``__init__`` says: it is read,
never run. ``ccxt.pro.binance`` is the class from ccxt's own ``ccxt/pro/binance.py``, ``ccxt.NetworkError`` the class
from ``ccxt/base/errors.py``; ``exchanges`` and ``__version__`` are the ``__init__``'s own lists and strings. Every
module ccxt loads this way is ccxt's, unchanged; only which of them are loaded differs.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

PACKAGES = ("ccxt", "ccxt.async_support", "ccxt.pro")


class LeanPackage(types.ModuleType):
    """A ccxt package whose ``from module import name`` lines are run for one name when that name is first used."""

    def __init__(self, spec: Any) -> None:
        super().__init__(spec.name)
        imports, values = read_init(Path(spec.origin), spec.name)
        self.__dict__.update(values, _imports=imports, __spec__=spec, __loader__=spec.loader, __file__=spec.origin,
                             __path__=list(spec.submodule_search_locations), __package__=spec.name)

    def __getattr__(self, name: str) -> Any:
        where = self.__dict__["_imports"].get(name)
        if where is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[0]), where[1])
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # Python binds a submodule to its package once loaded (``ccxt.pro.binance`` = the module); the real
        # ``__init__`` then binds the name to the module's class (``from ccxt.pro.binance import binance``).
        if isinstance(value, types.ModuleType) and self.__dict__["_imports"].get(name) == (value.__name__, name):
            value = getattr(value, name)
        object.__setattr__(self, name, value)


def read_init(path: Path, package: str) -> tuple[dict[str, tuple[str, str]], dict[str, Any]]:
    """A package ``__init__``'s ``from module import name [as alias]`` lines (alias -> (module, name)) and its
    assignments of literals (``__version__``, ``exchanges``), without running it."""
    imports: dict[str, tuple[str, str]] = {}
    values: dict[str, Any] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom):
            module = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                imports[alias.asname or alias.name] = (module, alias.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                values[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:  # an expression (``__all__ = base + errors.__all__ + exchanges``): not needed
                pass
    return imports, values


def install() -> None:
    """Put the lean packages in ``sys.modules``: from now on ``import ccxt.pro`` and ``ccxt.pro.binance`` load only
    what binance's client needs. Nothing happens where ccxt is already imported (or not installed)."""
    if PACKAGES[0] in sys.modules or importlib.util.find_spec(PACKAGES[0]) is None:
        return
    for name in PACKAGES:
        package = LeanPackage(importlib.util.find_spec(name))  # find_spec of a subpackage uses its parent's __path__
        sys.modules[name] = package
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, package)

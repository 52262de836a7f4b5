"""What importing the Ethereum libraries does to a process, kept in bounds.

Imported by `printfair` itself, so first in every process that signs or reads the chain: each web,
worker and beat process and each `manage.py` (through `config`), each `printfair` command. It
imports nothing from those libraries: it watches the imports of py_ecc (which eth-account imports
through eth-keyfile), so a process that never imports them (`printfair design get`) pays nothing.

1. py_ecc raises the interpreter's recursion limit to 100,000 at import. Deep recursion then
   overflows the C stack and the process dies (a JSON body nested 100,000 deep killed the web
   process with SIGSEGV) instead of raising RecursionError. The limit is put back as soon as
   py_ecc is imported. Parsing JSON from outside is bounded besides (printfair/safejson.py).
2. eth-keyfile imports py_ecc's two BLS12-381 packages at import, for version-4 (BLS) keystores,
   which PrintFair never reads or writes. Importing them computes pairing tables and checks the
   curve: 0.27 s of CPU at every start of every such process, a fifth of a Django process's.
   Until something uses them, each package is a stand-in that holds what eth-keyfile takes from
   it at import (the BLS scheme, the group order); the first use of anything else, or of the
   scheme, imports the real package in its place.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["DEFERRED", "is_deferred"]

#: The packages that wait for their first use.
DEFERRED = ("py_ecc.bls", "py_ecc.bls12_381")

_loading = threading.RLock()  # reentrant: the real py_ecc.bls may import py_ecc.bls12_381
_real: set[str] = set()  # the deferred packages imported for real since (or in need of it)


class _Deferred(types.ModuleType):
    """A package not imported yet: reading an attribute it does not hold imports it (not the
    import system's __path__, __file__, … which it looks for before giving them)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name != "__all__":
            raise AttributeError(name)
        return getattr(_imported(self.__name__), name)


class _Later:
    """A name from a deferred package, imported with the package at its first use."""

    def __init__(self, package: str, name: str) -> None:
        self._package, self._name = package, name

    def __getattr__(self, attribute: str) -> Any:
        return getattr(getattr(_imported(self._package), self._name), attribute)

    def __repr__(self) -> str:
        return f"<{self._package}.{self._name}, imported at first use>"


def _imported(package: str) -> types.ModuleType:
    with _loading:
        _real.add(package)
        module = sys.modules.get(package)
        if module is None or isinstance(module, _Deferred):
            sys.modules.pop(package, None)
            module = importlib.import_module(package)
        return module


def is_deferred(package: str) -> bool:
    """Whether `package` is still a stand-in (not imported yet) in this process."""
    return isinstance(sys.modules.get(package), _Deferred)


class _StandIn(importlib.abc.Loader):
    """Loads a deferred package as a stand-in holding what eth-keyfile takes from it."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        # The import system gives it the real package's __path__: its submodules import as
        # they would, without running the package's __init__.
        return _Deferred(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        if module.__name__ == "py_ecc.bls12_381":
            # the constant, from the curve module alone (cheap): the pairing is what costs
            from py_ecc.bls12_381.bls12_381_curve import curve_order

            module.__dict__["curve_order"] = curve_order
        else:
            module.__dict__["G2ProofOfPossession"] = _Later(module.__name__, "G2ProofOfPossession")


class _LimitKept(importlib.abc.Loader):
    """py_ecc's own loader, with the recursion limit put back after the package runs."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        limit = sys.getrecursionlimit()
        try:
            self._loader.exec_module(module)
        finally:
            sys.setrecursionlimit(limit)

    def __getattr__(self, name: str) -> Any:  # get_code, get_resource_reader, …
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "py_ecc" and (fullname not in DEFERRED or fullname in _real):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            return spec  # not the py_ecc this was written for: imported as it is
        spec.loader = _LimitKept(spec.loader) if fullname == "py_ecc" else _StandIn()
        return spec


if "py_ecc" not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())

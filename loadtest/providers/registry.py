"""Target kinds by name, found by scanning this package for modules with a `PROVIDER`.

Adding a provider is adding one module here that defines `PROVIDER = Provider(...)`:
profiles accept its kind, the builder sends its requests, the engine reads its stream.
Provider modules must not import `loadtest.profile` at import time (the profile asks
the registry for its kinds while it loads, so that import would be circular).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Callable, Mapping
from types import MappingProxyType

from loadtest.errors import ConfigError
from loadtest.providers.base import Provider

_PACKAGE = __name__.rpartition(".")[0]


def scan(package: str) -> dict[str, Provider]:
    """The PROVIDER of each module of PACKAGE, by kind, sorted by kind.

    Two modules claiming one kind, or a PROVIDER that is not a Provider, is a
    programming error: raised as TypeError at the first lookup, not skipped."""
    path = importlib.import_module(package).__path__
    found: dict[str, Provider] = {}
    for info in pkgutil.iter_modules(path):
        name = f"{package}.{info.name}"
        module = importlib.import_module(name)
        p = getattr(module, "PROVIDER", None)
        if p is None:
            continue
        if not isinstance(p, Provider):
            raise TypeError(f"{name}.PROVIDER is a {type(p).__name__}, not a Provider")
        if p.kind in found:
            raise TypeError(f"{name}: kind {p.kind!r} is already defined by another module")
        found[p.kind] = p
    return dict(sorted(found.items()))


@functools.cache
def providers() -> Mapping[str, Provider]:
    """Every provider of this package, by kind (scanned once)."""
    return MappingProxyType(scan(_PACKAGE))


def kinds(where: Callable[[Provider], bool] | None = None) -> tuple[str, ...]:
    """The kind names profiles accept (those WHERE holds, when given), sorted."""
    return tuple(k for k, p in providers().items() if where is None or where(p))


def provider(kind: str) -> Provider:
    """The provider of KIND; an unknown kind is a ConfigError listing the known ones."""
    p = providers().get(kind)
    if p is None:
        raise ConfigError(f"unknown target kind {kind!r}: expected one of {', '.join(kinds())}")
    return p

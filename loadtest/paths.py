"""Where loadtest keeps things by default, and file names made from names users give
(profiles, targets)."""

from __future__ import annotations

import re

DEFAULT_STORE = "reports/loadtest.db"  # the run history, when no --store or [schedule] store
DEFAULT_PROFILE = "profiles/quickstart.toml"  # `loadtest run` with no profile

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_safe(name: str) -> str:
    """NAME with every character outside [A-Za-z0-9._-] replaced by '_'."""
    return _UNSAFE.sub("_", name)

"""Typed, path-aware reading of TOML tables: every error names the file and key path."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from loadtest.errors import ConfigError

__all__ = ["ConfigError", "Table", "load_toml", "parse_duration", "parse_size"]


def load_toml(path: str | Path) -> Table:
    """Read a TOML file into a root Table, mapping I/O and syntax errors to ConfigError."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:  # TOML is UTF-8 by definition
        line = p.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{p}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}); TOML files must be UTF-8"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    return Table(data, str(p), "")


def _describe(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """A TOML table being read; tracks which keys were consumed so unknown ones are reported."""

    def __init__(self, data: Mapping[str, Any], file: str, path: str) -> None:
        self.data = data
        self.file = file
        self.path = path
        self._seen: set[str] = set()

    def where(self, key: str | None = None) -> str:
        """Human-readable location, e.g. 'sim.toml: models."gpt-4o-mini".ttft_p95_ms'."""
        parts = [p for p in (self.path, _quote(key) if key is not None else None) if p]
        return f"{self.file}: {'.'.join(parts) or '(top level)'}"

    def error(self, key: str | None, expected: str, got: object = ...) -> ConfigError:
        """Build the one-line error for KEY."""
        tail = "" if got is ... else f", got {_describe(got)}"
        return ConfigError(f"{self.where(key)}: expected {expected}{tail}")

    def has(self, key: str) -> bool:
        """Whether KEY is present (does not consume it)."""
        return key in self.data

    def keys(self) -> list[str]:
        """All keys of this table (does not consume them)."""
        return list(self.data)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def raw(self, key: str) -> Any:
        """The value of KEY, consumed, without a type check."""
        self._seen.add(key)
        return self.data[key]

    def number(
        self,
        key: str,
        default: float,
        *,
        min: float | None = None,
        max: float | None = None,
        positive: bool = False,
    ) -> float:
        """A float (ints accepted) within the given bounds."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise self.error(key, "a number", v)
        if not math.isfinite(v):  # TOML has nan and inf; a rate of inf is a runaway load
            raise self.error(key, "a finite number", v)
        bounds = _bounds_text(min, max, positive)
        if (positive and v <= 0) or (min is not None and v < min) or (max is not None and v > max):
            raise self.error(key, f"a number {bounds}", v)
        return float(v)

    def duration(self, key: str, default: float, *, positive: bool = True) -> float:
        """Seconds, from a number or a string like '250ms', '30s', '5m', '1h'."""
        if key not in self.data:
            return default
        v = self.raw(key)
        seconds = parse_duration(v)
        if seconds is None or (positive and seconds <= 0) or seconds < 0:
            raise self.error(key, "a duration such as 30s, 250ms or 5m", v)
        return seconds

    def size(self, key: str, default: int) -> int:
        """Bytes, at least one, from an integer or a string like '1MiB', '64 KiB', '1MB'."""
        if key not in self.data:
            return default
        v = self.raw(key)
        n = parse_size(v)
        if n is None or n < 1:
            raise self.error(key, "a size such as 1MiB, 256KiB or 100000 (bytes)", v)
        return n

    def integer(self, key: str, default: int, *, min: int | None = None) -> int:
        """An int, at least MIN."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.error(key, "an integer", v)
        if min is not None and v < min:
            raise self.error(key, f"an integer >= {min}", v)
        return v

    def string(self, key: str, default: str, *, choices: tuple[str, ...] | None = None) -> str:
        """A string, one of CHOICES when given."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if not isinstance(v, str):
            raise self.error(key, "a string", v)
        if choices is not None and v not in choices:
            raise self.error(key, "one of " + ", ".join(choices), v)
        return v

    def boolean(self, key: str, default: bool) -> bool:
        """A true/false value."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if not isinstance(v, bool):
            raise self.error(key, "true or false", v)
        return v

    def numbers(
        self, key: str, default: tuple[float, ...], *, length: int, min: float = 0.0
    ) -> tuple[float, ...]:
        """An array of exactly LENGTH numbers, each at least MIN."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if (
            not isinstance(v, list)
            or len(v) != length
            or not all(
                isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                for x in v
            )
        ):
            raise self.error(key, f"an array of {length} numbers", v)
        if any(x < min for x in v):
            raise self.error(key, f"numbers >= {min}", v)
        return tuple(float(x) for x in v)

    def strings(self, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """An array of strings."""
        if key not in self.data:
            return default
        v = self.raw(key)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise self.error(key, "an array of strings", v)
        return tuple(v)

    def table(self, key: str) -> Table | None:
        """A sub-table, or None when absent."""
        if key not in self.data:
            return None
        v = self.raw(key)
        if not isinstance(v, dict):
            raise self.error(key, "a table", v)
        return Table(v, self.file, _join(self.path, key))

    def tables(self, key: str) -> list[Table]:
        """An array of tables ([[key]]), empty when absent."""
        if key not in self.data:
            return []
        v = self.raw(key)
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            raise self.error(key, "an array of tables", v)
        return [Table(x, self.file, f"{_join(self.path, key)}[{i}]") for i, x in enumerate(v)]

    def finish(self) -> None:
        """Raise on the first key nobody consumed: a typo must not be ignored silently."""
        for key in self.data:
            if key not in self._seen:
                raise ConfigError(f"{self.where(key)}: unknown key")


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float | None:
    """Seconds from a number or '<number><ms|s|m|h|d>'; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    for unit in ("ms", "s", "m", "h", "d"):  # "ms" before "m" and "s"
        if text.endswith(unit):
            try:
                seconds = float(text[: -len(unit)]) * _UNITS[unit]
            except ValueError:
                return None
            return seconds if math.isfinite(seconds) else None  # 'infs', 'nanm'
    return None


_SIZES = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "kb": 1000, "mb": 10**6, "gb": 10**9}


def parse_size(value: object) -> int | None:
    """Bytes from an integer or '<number>[B|KiB|MiB|GiB|KB|MB|GB]'; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    scale = 1
    for unit, factor in _SIZES.items():
        if text.endswith(unit):
            text, scale = text[: -len(unit)], factor
            break
    else:
        text = text.removesuffix("b")
    try:
        return int(float(text.strip()) * scale)
    except (ValueError, OverflowError):  # not a number, or inf
        return None


def _quote(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


def _join(path: str, key: str) -> str:
    return f"{path}.{_quote(key)}" if path else _quote(key)


def _bounds_text(lo: float | None, hi: float | None, positive: bool) -> str:
    parts = []
    if positive:
        parts.append("> 0")
    if lo is not None:
        parts.append(f">= {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    return " and ".join(parts)


def jsonl_objects(path: Path, what: str) -> list[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of the JSONL file at PATH, a
    WHAT ("prompts file", "task file"); ConfigError in one line naming the file and line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        at = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{at}: not UTF-8 (byte 0x{raw[exc.start]:02x}); a {what} is JSONL"
        ) from None
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append((n, orjson.loads(line)))
        except orjson.JSONDecodeError:
            raise ConfigError(f"{path}:{n}: not a JSON object") from None
    return out

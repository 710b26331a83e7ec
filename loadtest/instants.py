"""Time utilities: UTC instants as every file, header and store row of loadtest writes
them (ISO 8601 with milliseconds and a Z: 2026-11-24T14:00:00.000Z), instants or
offsets from flags, and time zones by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loadtest.config_reader import parse_duration


def parse_instant(text: str) -> datetime:
    """ISO 8601 instant; naive values are taken as UTC. ValueError names the text."""
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not an ISO 8601 instant: {text!r}") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def format_instant(dt: datetime) -> str:
    """UTC ISO 8601 with milliseconds and a Z, as sent in the x-sim-time header."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def format_epoch(seconds: float) -> str:
    """format_instant of a Unix time."""
    return format_instant(datetime.fromtimestamp(seconds, UTC))


def instant_or_offset(text: str, base: datetime, sign: int) -> datetime:
    """An ISO instant, or a duration ('7d', '12h', '30m') after BASE (SIGN 1) or before
    it (SIGN -1). ValueError when TEXT is neither."""
    seconds = parse_duration(text)
    if seconds is not None:
        return base + timedelta(seconds=sign * seconds)
    return parse_instant(text)


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """ZoneInfo by IANA name; ValueError with the name when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None

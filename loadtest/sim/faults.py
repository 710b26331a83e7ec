"""Fault injection: which fault (if any) a request gets, at configured rates or in time windows."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Faults decided before any byte is sent, and faults that strike inside a stream.
HTTP_FAULTS = ("http_500", "overloaded")
STREAM_FAULTS = ("stream_error", "disconnect", "stall", "malformed")
FAULT_KINDS = HTTP_FAULTS + STREAM_FAULTS


@dataclass(frozen=True)
class FaultWindow:
    """A fault applied at RATE to requests arriving in [start_s, start_s + duration_s).

    Seconds count from the simulator's start (real time). A stall window without
    stall_s holds each response until the window closes: a server-wide freeze.
    """

    kind: str
    start_s: float
    duration_s: float
    rate: float = 1.0
    stall_s: float | None = None


@dataclass(frozen=True)
class Faults:
    """Per-request fault probabilities and scheduled windows."""

    http_500: float = 0.0
    overloaded: float = 0.0
    stream_error: float = 0.0
    disconnect: float = 0.0
    stall: float = 0.0
    malformed: float = 0.0
    stall_s: float = 5.0
    windows: tuple[FaultWindow, ...] = ()

    def rate(self, kind: str) -> float:
        """The configured probability of KIND."""
        return float(getattr(self, kind))


NO_FAULTS = Faults()


@dataclass(frozen=True)
class FaultChoice:
    """The fault a request gets: before the stream (at_token None) or before event at_token."""

    kind: str
    at_token: int | None = None
    stall_s: float = 0.0


def choose(faults: Faults, rng: random.Random, elapsed_s: float, events: int) -> FaultChoice | None:
    """Draw at most one fault for a request arriving ELAPSED_S after start.

    Windows are checked first (in order); then one uniform draw against the
    cumulative per-kind rates, so the kinds are mutually exclusive and each
    appears at its own configured rate.
    """
    for w in faults.windows:
        if w.start_s <= elapsed_s < w.start_s + w.duration_s and rng.random() < w.rate:
            if w.kind == "stall" and w.stall_s is None:
                # Freeze until the window closes, before the first token.
                return FaultChoice("stall", 0, w.start_s + w.duration_s - elapsed_s)
            return _place(w.kind, rng, events, w.stall_s or faults.stall_s)
    u = rng.random()
    acc = 0.0
    for kind in FAULT_KINDS:
        acc += faults.rate(kind)
        if u < acc:
            return _place(kind, rng, events, faults.stall_s)
    return None


def _place(kind: str, rng: random.Random, events: int, stall_s: float) -> FaultChoice:
    if kind in HTTP_FAULTS:
        return FaultChoice(kind)
    # Strictly inside the stream: after the first event, before the last one.
    at = rng.randrange(1, events) if events > 1 else 0
    return FaultChoice(kind, at, stall_s if kind == "stall" else 0.0)

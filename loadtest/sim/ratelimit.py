"""Token-bucket rate limits (requests/min, tokens/min) and the providers' rate-limit headers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True)
class Limits:
    """Per-minute limits; 0 means unlimited (and no rate-limit headers for that bucket)."""

    rpm: int = 0
    tpm: int = 0


class TokenBucket:
    """Capacity refilled continuously at capacity/60 per second, as providers describe it."""

    def __init__(self, per_minute: int, now_s: float) -> None:
        self.capacity = float(per_minute)
        self.level = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self.updated_s = now_s

    def _refill(self, now_s: float) -> None:
        self.level = min(self.capacity, self.level + (now_s - self.updated_s) * self.refill_per_s)
        self.updated_s = now_s

    def wait_s(self, amount: float, now_s: float) -> float:
        """Seconds until AMOUNT is available (0 when it is now)."""
        self._refill(now_s)
        need = min(amount, self.capacity) - self.level
        return max(0.0, need / self.refill_per_s)

    def take(self, amount: float) -> None:
        """Remove AMOUNT (call after wait_s returned 0)."""
        self.level -= min(amount, self.capacity)

    def reset_s(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.capacity - self.level) / self.refill_per_s


@dataclass(frozen=True)
class BucketState:
    """One bucket as reported in headers."""

    limit: int
    remaining: int
    reset_s: float


@dataclass(frozen=True)
class Admission:
    """The outcome of a rate-limit check: allowed, or retry after N seconds; plus bucket states."""

    allowed: bool
    retry_after_s: float
    limited_by: str
    requests: BucketState | None
    tokens: BucketState | None


class RateLimiter:
    """Requests and tokens buckets for one model in one worker process."""

    def __init__(self, limits: Limits, now_s: float) -> None:
        self.requests = TokenBucket(limits.rpm, now_s) if limits.rpm > 0 else None
        self.tokens = TokenBucket(limits.tpm, now_s) if limits.tpm > 0 else None

    def admit(self, tokens: int, now_s: float) -> Admission:
        """Charge one request and TOKENS (input + max output, as OpenAI estimates) if both fit."""
        waits = {}
        if self.requests is not None:
            waits["requests"] = self.requests.wait_s(1, now_s)
        if self.tokens is not None:
            waits["tokens"] = self.tokens.wait_s(tokens, now_s)
        worst = max(waits, key=lambda k: waits[k], default="")
        allowed = not worst or waits[worst] == 0.0
        if allowed:
            if self.requests is not None:
                self.requests.take(1)
            if self.tokens is not None:
                self.tokens.take(tokens)
        return Admission(
            allowed,
            0.0 if allowed else waits[worst],
            "" if allowed else worst,
            _state(self.requests),
            _state(self.tokens),
        )


def _state(b: TokenBucket | None) -> BucketState | None:
    if b is None:
        return None
    return BucketState(int(b.capacity), max(0, math.floor(b.level)), b.reset_s())


def openai_headers(a: Admission) -> dict[str, str]:
    """OpenAI's x-ratelimit-* headers (resets as Go-style durations like '6m0s')."""
    out: dict[str, str] = {}
    for name, st in (("requests", a.requests), ("tokens", a.tokens)):
        if st is not None:
            out[f"x-ratelimit-limit-{name}"] = str(st.limit)
            out[f"x-ratelimit-remaining-{name}"] = str(st.remaining)
            out[f"x-ratelimit-reset-{name}"] = go_duration(st.reset_s)
    if not a.allowed:
        out["retry-after"] = str(max(1, math.ceil(a.retry_after_s)))
        out["retry-after-ms"] = str(max(1, math.ceil(a.retry_after_s * 1000)))
    return out


def anthropic_headers(a: Admission, now_wall_s: float) -> dict[str, str]:
    """Anthropic's anthropic-ratelimit-* headers (resets as RFC 3339 instants)."""
    out: dict[str, str] = {}
    for name, st in (("requests", a.requests), ("tokens", a.tokens)):
        if st is not None:
            reset = datetime.fromtimestamp(now_wall_s + st.reset_s, UTC)
            out[f"anthropic-ratelimit-{name}-limit"] = str(st.limit)
            out[f"anthropic-ratelimit-{name}-remaining"] = str(st.remaining)
            out[f"anthropic-ratelimit-{name}-reset"] = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not a.allowed:
        out["retry-after"] = str(max(1, math.ceil(a.retry_after_s)))
    return out


def go_duration(seconds: float) -> str:
    """Format like OpenAI's reset headers: '20ms', '1.5s', '6m0s'."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, secs = divmod(seconds, 60)
    secs_text = f"{secs:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{secs_text}s" if minutes >= 1 else f"{secs_text}s"

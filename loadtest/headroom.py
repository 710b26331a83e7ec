"""Rate-limit headroom from a response's headers, OpenAI's (`x-ratelimit-*`) or
Anthropic's (`anthropic-ratelimit-*`): numbers for the reports' table and chart, and the
dashboard's short text (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

_NAMES = {
    "requests": (
        ("x-ratelimit-remaining-requests", "anthropic-ratelimit-requests-remaining"),
        ("x-ratelimit-limit-requests", "anthropic-ratelimit-requests-limit"),
    ),
    "tokens": (
        ("x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-remaining"),
        ("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"),
    ),
}


@dataclass(frozen=True)
class Headroom:
    """What is left of one limit, and the limit (None where a header is missing)."""

    remaining: float | None
    limit: float | None

    @property
    def share(self) -> float | None:
        """Remaining as a fraction of the limit; None without both."""
        if self.remaining is None or not self.limit:
            return None
        return self.remaining / self.limit


def _number(headers: Mapping[str, str], names: tuple[str, ...]) -> float | None:
    for n in names:
        if n in headers:
            try:
                return float(headers[n])
            except ValueError:
                return None
    return None


def headroom_of(headers: Mapping[str, str]) -> dict[str, Headroom]:
    """'requests' and 'tokens' -> their Headroom, for each the headers speak of."""
    out = {}
    for kind, (rem, lim) in _NAMES.items():
        h = Headroom(_number(headers, rem), _number(headers, lim))
        if h.remaining is not None or h.limit is not None:
            out[kind] = h
    return out


def short(v: float | None) -> str:
    """12, 30k, 150M; '?' for None."""
    if v is None:
        return "?"
    if v >= 10_000_000:
        return f"{v / 1e6:.0f}M"
    return f"{v / 1000:.0f}k" if v >= 10_000 else f"{v:.0f}"


def headroom_text(headers: Mapping[str, str]) -> str:
    """'req 3998/4000 tok 39k/40k', and the retry-after when there is one."""
    out = [
        f"{label} {short(h.remaining)}/{short(h.limit)}"
        for label, kind in (("req", "requests"), ("tok", "tokens"))
        if (h := headroom_of(headers).get(kind)) is not None and h.remaining is not None
    ]
    if "retry-after" in headers:
        out.append(f"retry-after {headers['retry-after']}s")
    return " ".join(out)

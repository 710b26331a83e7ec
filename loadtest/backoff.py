"""What a failed request means for the next one: how long a closed-loop worker waits
before it sends again, and when a target's errors say it can never succeed.

A closed loop sends its next request the moment the last one ends; against a server
that refuses every request at once (a bad key), that was 22,000 requests in 5 seconds.
So a worker whose request failed waits: the server's `retry-after` when it gave one,
else an exponential backoff with full jitter (a random wait up to the doubled bound,
so workers that failed together do not retry together), capped. And a target whose
requests keep getting a status that no retry can fix is stopped, saying why.
"""

from __future__ import annotations

import random

from loadtest.records import RequestRecord

BACKOFF_BASE_S = 0.1  # the bound after the first failure; doubled after each further one
BACKOFF_CAP_S = 10.0
RETRY_AFTER_CAP_S = 60.0  # a server's retry-after is honoured up to this long
# Statuses that say the request itself is wrong (bad request, no or wrong key, no access,
# no such model or route): retrying the same request cannot succeed.
FATAL_STATUSES = frozenset({400, 401, 403, 404})
FATAL_IN_A_ROW = 5  # a target stops after this many in a row


def retry_delay_s(
    r: RequestRecord,
    failures: int,
    rng: random.Random,
    base_s: float = BACKOFF_BASE_S,
    cap_s: float = BACKOFF_CAP_S,
) -> float:
    """Seconds to wait after R, the FAILURES-th failure in a row (of a worker, or of a
    request's attempts): the server's retry-after-ms (OpenAI's) or retry-after, else a
    full-jitter backoff from BASE_S, doubled per failure, at most CAP_S."""
    headers = r.ratelimit or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        after = headers.get(name)
        if after is None:
            continue
        try:
            seconds = float(after) * scale  # an HTTP date instead is rare here: backoff
        except ValueError:
            continue
        if seconds >= 0:
            return min(seconds, RETRY_AFTER_CAP_S)
    bound = min(cap_s, base_s * 2 ** min(failures - 1, 30))
    return rng.uniform(0.0, bound)


class FatalStreak:
    """Counts a target's requests in a row that ended with a fatal status."""

    def __init__(self) -> None:
        self.count = 0
        self.status = 0

    def seen(self, r: RequestRecord, detail: str) -> str | None:
        """Take R's outcome; the reason to stop the target, once the streak is long enough."""
        if r.status not in FATAL_STATUSES:
            self.count = 0
            return None
        self.count = self.count + 1 if r.status == self.status else 1
        self.status = r.status
        if self.count < FATAL_IN_A_ROW:
            return None
        return f"{self.count} x HTTP {r.status} in a row ({detail[:160] or 'no detail'})"

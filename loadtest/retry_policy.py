"""A target's retry and fallback policy, as the profile states it (pure).

    [[targets]]
    retry = { attempts = 3, backoff = "250ms", on = ["http_429", "invalid_json"] }
    fallback = ["claude-3-5-haiku"]   # other targets, in order
    fallback_after = "2s"             # no first token by then: the next one

`attempts` counts the first one (1: no retry). A retried attempt waits the server's
`retry-after-ms` or `retry-after` when it sent one, else an exponential backoff with full
jitter (a random wait up to `backoff` doubled per attempt, at most `max_backoff`).
`on` names what is retried: transport classes (loadtest.errors) and validator outcomes
(loadtest.validators: an answer that broke its JSON can be asked again). A request whose
attempts are spent, or whose first token has not come by `fallback_after`, goes to the
next fallback target, with that target's own attempts; a fallback's fallbacks are not
followed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loadtest.config_reader import ConfigError, Table
from loadtest.errors import NOT_SERVER_FAILURES, ErrorClass
from loadtest.validators import OK, OUTCOMES

# Worth asking again by default: what a busy or flaky server does, not a bad request.
RETRIED_BY_DEFAULT = ("connect", "http_429", "http_5xx", "overloaded", "timeout_ttft", "truncated")
RETRIABLE = tuple(
    [c.value for c in ErrorClass if c.value not in NOT_SERVER_FAILURES]
    + [o for o in OUTCOMES if o != OK]
)


@dataclass(frozen=True)
class RetryPolicy:
    """How one target's failed requests are tried again, and where they go next."""

    attempts: int = 1
    backoff_s: float = 0.25
    max_backoff_s: float = 8.0
    on: tuple[str, ...] = RETRIED_BY_DEFAULT
    fallback: tuple[str, ...] = ()
    fallback_after_s: float | None = None  # the first-token deadline before a fallback

    @property
    def active(self) -> bool:
        """Whether a request may take more than one attempt."""
        return self.attempts > 1 or bool(self.fallback)


NO_RETRY = RetryPolicy()


def read_retry(t: Table) -> RetryPolicy:
    """The policy of target table T (its `retry`, `fallback`, `fallback_after` keys)."""
    sub = t.table("retry")
    fallback = t.strings("fallback", ())
    after = t.duration("fallback_after", 0.0) if t.has("fallback_after") else None
    if after is not None and not fallback:
        raise t.error("fallback_after", "a fallback list beside it (fallback = [...])", after)
    if sub is None:
        return RetryPolicy(fallback=fallback, fallback_after_s=after)
    on = sub.strings("on", RETRIED_BY_DEFAULT)
    for name in on:
        if name not in RETRIABLE:
            raise sub.error("on", f"names among {', '.join(RETRIABLE)}", name)
    policy = RetryPolicy(
        attempts=sub.integer("attempts", 3, min=1),
        backoff_s=sub.duration("backoff", 0.25),
        max_backoff_s=sub.duration("max_backoff", 8.0),
        on=on,
        fallback=fallback,
        fallback_after_s=after,
    )
    sub.finish()
    return policy


def check_fallbacks(names: Sequence[str], policies: Sequence[RetryPolicy], where: str) -> None:
    """Every fallback names another target of the profile (NAMES, in order)."""
    for name, policy in zip(names, policies, strict=True):
        for other in policy.fallback:
            if other == name or other not in names:
                raise ConfigError(
                    f"{where}: target {name}: fallback: expected names of other targets "
                    f"({', '.join(n for n in names if n != name) or 'there are none'}), "
                    f"got {other!r}"
                )

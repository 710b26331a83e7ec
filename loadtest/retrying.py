"""Retries and fallback around a Sender: each request as its user's client would make it
under the target's RetryPolicy (loadtest.retry_policy), recorded as one request.

The record is the engine's one request: sent when its first attempt went out (so every
latency includes the waits and the attempts before the one that served it, and the
"from intended" ones start at the first attempt's intended time, as a user waits), its
tokens, events and outcome the serving attempt's (or the last one's), with its number of
attempts, the target that served it ("" for its own), and every attempt's usage by
target, failed ones included, so that cost counts what was paid for.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import fields

from loadtest.backoff import retry_delay_s
from loadtest.errors import ErrorClass
from loadtest.profile import Profile
from loadtest.records import RequestRecord
from loadtest.retry_policy import RetryPolicy
from loadtest.shard_io import Sender, ShardSpec
from loadtest.validators import OK
from loadtest.workload import Prompt

Clock = Callable[[], int]
Sleep = Callable[[float], Awaitable[None]]
# Copied from the serving attempt onto the request; the rest is the request's own.
_ATTEMPT_FIELDS = tuple(
    f.name
    for f in fields(RequestRecord)
    if f.name
    not in (
        "target",
        "intended_ns",
        "sent_ns",
        "attempts",
        "first_ok",
        "served_by",
        "billed",
        "task_id",
    )
)


def failure_of(r: RequestRecord) -> str | None:
    """What went wrong with attempt R, as `retry.on` names it: its error class, or its
    answer's failed outcome; None when it succeeded."""
    if r.error is not None:
        return r.error.value
    return r.outcome if r.outcome not in (None, OK) else None


class RetryingSender:
    """A Sender that gives each request of a target with a policy its attempts and
    fallbacks; requests of other targets go straight through."""

    def __init__(
        self,
        inner: Sender,
        profile: Profile,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.policies = {t.name: t.retry for t in profile.targets}
        self.clock = clock
        self.sleep = sleep
        self.rng = random.Random(profile.seed)

    async def open(self) -> None:
        """Open the inner sender."""
        await self.inner.open()

    async def close(self) -> None:
        """Close the inner sender."""
        await self.inner.close()

    async def send(self, target: str, prompt: Prompt, r: RequestRecord) -> str:
        """Send PROMPT to TARGET as its policy says, filling R; returns the error detail
        of the last attempt ("" when one succeeded)."""
        policy = self.policies[target]
        if not policy.active:
            return await self.inner.send(target, prompt, r)
        chain = (target, *policy.fallback)
        detail, last = "", RequestRecord(target, intended_ns=r.intended_ns)
        for k, name in enumerate(chain):
            own = self.policies[name] if k else policy
            deadline = policy.fallback_after_s if k + 1 < len(chain) else None
            done, detail, last = await self._attempts(name, own, deadline, prompt, r)
            if done:
                break
        for name in _ATTEMPT_FIELDS:
            setattr(r, name, getattr(last, name))
        return detail

    async def _attempts(
        self,
        name: str,
        policy: RetryPolicy,
        deadline_s: float | None,
        prompt: Prompt,
        r: RequestRecord,
    ) -> tuple[bool, str, RequestRecord]:
        """Up to POLICY's attempts at target NAME: (succeeded, detail, the last attempt)."""
        for attempt in range(1, policy.attempts + 1):
            rec = RequestRecord(r.target, intended_ns=r.intended_ns)
            detail, missed = await self._attempt(name, prompt, rec, deadline_s)
            r.attempts += 1
            r.sent_ns = r.sent_ns or rec.sent_ns
            if rec.input_tokens or rec.output_tokens:
                r.billed.append((name, rec.input_tokens, rec.output_tokens))
            r.served_by = name if name != r.target else ""
            failure = failure_of(rec)
            if r.attempts == 1:
                r.first_ok = failure is None
            if failure is None:
                return True, detail, rec
            if missed or failure not in policy.on or attempt == policy.attempts:
                return False, detail, rec
            wait = retry_delay_s(rec, attempt, self.rng, policy.backoff_s, policy.max_backoff_s)
            await self.sleep(wait)
        raise AssertionError("unreachable: the last attempt returns")

    async def _attempt(
        self, name: str, prompt: Prompt, rec: RequestRecord, deadline_s: float | None
    ) -> tuple[str, bool]:
        """One attempt at NAME: (its detail, whether it missed the first-token deadline)."""
        if deadline_s is None:
            return await self.inner.send(name, prompt, rec), False
        task = asyncio.ensure_future(self.inner.send(name, prompt, rec))
        try:
            await asyncio.wait({task}, timeout=deadline_s)
            if task.done() or rec.first_token_ns:
                return await task, False
        except asyncio.CancelledError:
            task.cancel()
            raise
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        rec.end_ns = self.clock()
        rec.error = ErrorClass.TIMEOUT_TTFT
        return f"no first token within fallback_after ({deadline_s:g} s)", True


def http_sender(spec: ShardSpec, clock: Clock) -> Sender:
    """The Sender of a real run: HTTP, with retries and fallback where a policy asks."""
    from loadtest.transport import HttpSender

    http = HttpSender(spec.profile, dict(spec.base_urls), dict(spec.env), clock)
    return with_retries(http, spec.profile, clock)


def with_retries(sender: Sender, profile: Profile, clock: Clock) -> Sender:
    """SENDER, wrapped in retries and fallback where a target of PROFILE has a policy."""
    if any(t.retry.active for t in profile.targets):
        return RetryingSender(sender, profile, clock)
    return sender

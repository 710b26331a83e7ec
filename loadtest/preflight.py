"""One request per target before the load: a bad key, a wrong URL or a field the server
rejects stops the run with the server's own words, before any load and any file.

Each target gets the workload's first prompt with max_tokens capped at MAX_TOKENS, as a
normal streaming request of its kind, through an HttpSender of its own (so its
connection, and its record, are not the run's: it is not part of the measured load).
Targets are checked at once, each bounded by the TTFT timeout: a stream that has sent
its first token by then passes.

What a failure means:
- fatal, a UserError (exit 2): no connection, HTTP 400/401/403/404/422, a 200 that is no
  event stream or a malformed one (`protocol`), or a request our side could not send
  (`client_error`): every request of the load would end the same way;
- a warning, the run goes on: 429, 5xx, a timeout, a stream cut short or an error
  event in it: the load is what measures those.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from loadtest import backoff
from loadtest.errors import ErrorClass, UserError
from loadtest.loop import new_event_loop
from loadtest.profile import Profile
from loadtest.records import RequestRecord
from loadtest.transport import HttpSender
from loadtest.workload import Prompt, PromptSource

MAX_TOKENS = 8
# The statuses that stop a target during the load, and 422: a field the server refuses,
# which a preflight names before the load (the load's streak does not count it).
FATAL_STATUSES = backoff.FATAL_STATUSES | {422}
FATAL_CLASSES = frozenset({ErrorClass.CONNECT, ErrorClass.PROTOCOL, ErrorClass.CLIENT_ERROR})
SLACK_S = 1.0  # past the TTFT timeout, so that send() names its own timeout first


def check(p: Profile, base_urls: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """Send one request to each target of P; raise a UserError naming the first target
    (in profile order) that failed for good; return one warning line per target that
    failed in a way the load measures."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        outcomes = runner.run(_check_all(p, base_urls, env))
    warnings = []
    for name, (r, detail) in outcomes.items():
        if not detail:
            continue
        line = " ".join(detail.split())[:300]  # one line, the server's words trimmed
        what = f"preflight request to target {name!r} failed: {line}"
        if r.status in FATAL_STATUSES or r.error in FATAL_CLASSES:
            raise UserError(f"{what} (no load was sent; --no-preflight skips this check)")
        warnings.append(f"{what}; the run goes on")
    return warnings


async def _check_all(
    p: Profile, base_urls: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, tuple[RequestRecord, str]]:
    sender = HttpSender(p, base_urls, env)
    prompt = PromptSource(p.workload, p.seed).prompt(0)
    prompt = dataclasses.replace(prompt, max_tokens=min(prompt.max_tokens, MAX_TOKENS))
    await sender.open()
    try:
        names = [t.name for t in p.targets]
        done = await asyncio.gather(*(_one(sender, n, prompt, p.timeouts.ttft_s) for n in names))
        return dict(zip(names, done, strict=True))
    finally:
        await sender.close()


async def _one(
    sender: HttpSender, name: str, prompt: Prompt, ttft_s: float
) -> tuple[RequestRecord, str]:
    r = RequestRecord(name, 0)
    try:
        async with asyncio.timeout(ttft_s + SLACK_S):
            detail = await sender.send(name, prompt, r)
    except TimeoutError:  # still streaming after its first token: it works
        detail = "" if r.first_token_ns else f"no first token within {ttft_s:g} s"
    return r, detail

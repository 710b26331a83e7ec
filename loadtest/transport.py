"""One streaming request over a shared aiohttp session, stamped and classified.

Library exceptions become our error classes here and nowhere else (httpx's
`map_httpcore_exceptions` idea). Timeouts use one `asyncio.timeout_at` per request: until
the first token its deadline is the TTFT deadline (a silent server before the first
token is a TTFT timeout, whatever the idle setting); from then on it is
min(total deadline, last read + idle), moved forward lazily (at most every twentieth
of the idle limit, so an idle timeout may fire up to 5% early) to keep the per-read cost
down. The body itself is taken by loadtest.body_reader, pushed as it arrives.
"""

from __future__ import annotations

import asyncio
import functools
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import aiohttp

from loadtest import redact
from loadtest.agent_loop import run_task
from loadtest.body_reader import Stream, read_body
from loadtest.capacity import streams
from loadtest.errors import ErrorClass, classify_status
from loadtest.judging import outcome_of
from loadtest.profile import Profile, Timeouts
from loadtest.providers.answer import Answer
from loadtest.providers.base import EventParser
from loadtest.providers.build import RequestBuilder, builder
from loadtest.providers.reading import Reading
from loadtest.records import RequestRecord
from loadtest.sse import MAX_EVENT, EventTooLarge, SSEParser
from loadtest.tasks import AGENT
from loadtest.workload import Prompt

if TYPE_CHECKING:
    from loadtest.sdk_client import SdkClient

Clock = Callable[[], int]
# The idle deadline is moved at most every twentieth of the idle limit (each move costs a
# timer): a stall is called within 5% of the limit, and a stream shorter than that moves
# it once, at its first token (every 50 ms, as before, cost 4% of the client's CPU on a
# token-by-token stream).
RESCHEDULE_SHARE = 20


def new_session(timeouts: Timeouts, connections: int) -> aiohttp.ClientSession:
    """One session per target: keep-alive pool sized for the load, TLS verified (aiohttp's
    default context, made once at import).

    Not trust_env: aiohttp would then look up proxies and read ~/.netrc in a thread on
    every request (a fifth of the client's CPU at 1,000 req/s); proxy_for() resolves
    the environment's proxy once per target instead."""
    connector = aiohttp.TCPConnector(
        limit=connections, limit_per_host=connections, ttl_dns_cache=300, ssl=True
    )
    # No sock_read: aiohttp would move a timer on every read; send() keeps its own
    # idle deadline, moved at most every twentieth of the idle limit.
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect_s, sock_read=None)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)


def proxy_for(url: str) -> str | None:
    """The proxy that HTTP(S)_PROXY / ALL_PROXY and NO_PROXY give for URL, or None."""
    parts = urllib.parse.urlsplit(url)
    if parts.hostname is None or urllib.request.proxy_bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies()
    return proxies.get(parts.scheme) or proxies.get("all")


_RATELIMIT_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")
_RETRY_AFTER = ("retry-after", "retry-after-ms")


def ratelimit_headers(headers: Mapping[str, str]) -> dict[str, str] | None:
    """The rate-limit headers of a response (OpenAI's, Anthropic's, retry-after), or None."""
    found = {
        k.lower(): v
        for k, v in headers.items()
        if k.lower().startswith(_RATELIMIT_PREFIXES) or k.lower() in _RETRY_AFTER
    }
    return found or None


async def send(
    session: aiohttp.ClientSession,
    b: RequestBuilder,
    prompt: Prompt,
    parse: EventParser,
    timeouts: Timeouts,
    r: RequestRecord,
    clock: Clock = time.perf_counter_ns,
    proxy: str | None = None,
    max_event: int = MAX_EVENT,
    answer: Answer | None = None,
) -> str:
    """Send one request and fill R; returns a short detail for errors ("" on success).

    A 200 that says it is not an event stream, and a line or event over MAX_EVENT bytes,
    are `protocol` errors and end the request there (the connection is dropped)."""
    reading = Reading()
    if prompt.task is not None:
        reading.answer = Answer() if answer is None else answer
    body = b.body(prompt)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    total_at = t0 + timeouts.total_s
    idle = timeouts.idle_s
    step_ns = int(idle * 1e9 / RESCHEDULE_SHARE)
    try:
        async with asyncio.timeout_at(t0 + timeouts.ttft_s) as deadline:
            r.sent_ns = clock()
            async with session.post(b.url, data=body, headers=b.headers, proxy=proxy) as resp:
                r.first_byte_ns = clock()
                r.status = resp.status
                r.ratelimit = ratelimit_headers(resp.headers)
                r.sim_time = resp.headers.get("x-sim-time")
                if reading.answer is not None:
                    r.sim_outcome = resp.headers.get("x-sim-outcome")
                if resp.status != 200:
                    text = (await resp.content.read(2000)).decode("utf-8", "replace")
                    r.error = classify_status(resp.status)
                    r.end_ns = clock()
                    return f"HTTP {resp.status}: {text.strip()[:200] or '(empty body)'}"
                # An HTML page, a whole JSON completion (a server that ignored `stream`),
                # NDJSON: named for what they are, not left to end as `truncated`. No
                # content-type at all passes: it claims nothing, and the SDKs read those.
                ctype = resp.headers.get("Content-Type")
                if ctype is not None and resp.content_type != "text/event-stream":
                    head = await resp.content.read(4096)
                    r.error = ErrorClass.PROTOCOL
                    r.end_ns = clock()
                    return _not_an_event_stream(ctype, head)
                parser = SSEParser(max_event)
                stream = Stream(r, reading, parse, parser, clock, deadline, idle, total_at, step_ns)
                # Read to the end of the body even after the terminal event: leaving early
                # would close the keep-alive connection and cost a new one per request.
                await read_body(resp.content, stream)
                parser.close()
                if not r.end_ns:  # a pushed body's end is stamped as it comes
                    r.end_ns = clock()
                if parser.truncated and reading.error is None and not reading.done:
                    reading.fail(ErrorClass.TRUNCATED, "stream ended inside an event")
    except EventTooLarge as exc:  # a stream with no line end, or one huge event
        r.end_ns = clock()
        r.error = ErrorClass.PROTOCOL
        return str(exc)
    except aiohttp.ConnectionTimeoutError as exc:
        r.end_ns = clock()
        r.error = ErrorClass.CONNECT
        return f"connect timeout: {str(exc)[:160]}"
    except TimeoutError:  # after aiohttp's own timeouts, which subclass TimeoutError
        r.end_ns = clock()
        if not r.first_token_ns:
            r.error = ErrorClass.TIMEOUT_TTFT
            return f"no first token within {timeouts.ttft_s:g} s"
        if loop.time() >= total_at - 0.001:
            r.error = ErrorClass.TIMEOUT_TOTAL
            return f"not finished within {timeouts.total_s:g} s"
        r.error = ErrorClass.TIMEOUT_IDLE
        return f"no data for {idle:g} s"
    except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError) as exc:
        r.end_ns = clock()
        r.error = ErrorClass.TRUNCATED
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    except (aiohttp.ClientError, OSError) as exc:
        r.end_ns = clock()
        r.error = ErrorClass.CONNECT if not r.first_byte_ns else ErrorClass.TRUNCATED
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    except Exception as exc:
        # Whatever else a request raises is that request's error, never its worker's end:
        # aiohttp's ValueError for some URLs and header values, a reader's bug. Not
        # BaseException: CancelledError is how the engine abandons a request in flight.
        r.end_ns = clock()
        r.error = ErrorClass.CLIENT_ERROR
        return f"{type(exc).__name__}: {str(exc)[:160]}"
    return finish(r, reading, prompt)


class HttpSender:
    """The engine's Sender in real runs: one keep-alive session and builder per target.

    Sessions (and their TLS contexts, tens of ms each) are made in open(), before the
    engine starts its clock."""

    def __init__(
        self,
        profile: Profile,
        base_urls: Mapping[str, str],
        env: Mapping[str, str],
        clock: Clock = time.perf_counter_ns,
    ) -> None:
        self.profile = profile
        self.clock = clock
        self.builders = {
            t.name: builder(t, profile.workload_of(t), base_urls[t.name], env)
            for t in profile.targets
        }
        self.proxies = {name: proxy_for(b.url) for name, b in self.builders.items()}
        self.workloads = {t.name: profile.workload_of(t) for t in profile.targets}
        # Every target's, for every detail: a few more strings to look for on the error
        # path, and no detail can hold a key of another target either.
        self.secrets = tuple({s for b in self.builders.values() for s in b.secrets})
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.sdk: dict[str, SdkClient] = {}  # targets with client = "sdk"

    async def open(self) -> None:
        """One session per target, its pool sized for the target's highest load."""
        for t in self.profile.targets:
            conns = streams(self.profile.load_of(t))
            # A fallback's requests come on top of its own load.
            conns += sum(
                streams(self.profile.load_of(o))
                for o in self.profile.targets
                if t.name in o.retry.fallback
            )
            if t.client == "sdk":  # the SDK's own pool instead of a session
                from loadtest.sdk_client import SdkClient

                b = self.builders[t.name]
                self.sdk[t.name] = SdkClient(
                    t, b, _key_of(b), self.profile.timeouts, conns, self.clock
                )
            else:
                self.sessions[t.name] = new_session(self.profile.timeouts, conns)

    async def send(self, target: str, prompt: Prompt, r: RequestRecord) -> str:
        """One streaming request to TARGET (see send()), or an agent task's calls
        (agent_loop); its error detail scrubbed of every key and password in use and of
        credential headers a server echoed."""

        task = prompt.task
        if task is None:
            detail = await self._call(target, prompt, r)
        else:
            r.task_id = task.id
            if task.kind == AGENT:
                w = self.workloads[target]
                detail = await run_task(
                    functools.partial(self._call, target),
                    self.builders[target].provider.agentic,
                    prompt,
                    r,
                    w.tool_latency,
                    w.max_steps,
                    self.profile.seed,
                    self.clock,
                )
            else:
                detail = await self._call(target, prompt, r)
        # Here, the one place that holds every target's keys, and before any sink (the
        # results file, the live view, a shard's pipe) sees the detail. send() cuts
        # details short; scrub() also drops a secret cut off at the end.
        return redact.scrub(detail, self.secrets) if detail else detail

    async def _call(
        self, target: str, p: Prompt, rec: RequestRecord, answer: Answer | None = None
    ) -> str:
        """One model call of TARGET: through its SDK, or loadtest's own client."""
        if target in self.sdk:
            return await self.sdk[target].send(p, rec, answer)
        b = self.builders[target]
        return await send(
            self.sessions[target],
            b,
            p,
            b.provider.parse_events,
            self.profile.timeouts,
            rec,
            self.clock,
            self.proxies[target],
            self.profile.max_event_bytes,
            answer,
        )

    async def close(self) -> None:
        """Close every session."""
        for s in self.sessions.values():
            await s.close()
        for c in self.sdk.values():
            await c.close()


def _key_of(b: RequestBuilder) -> str:
    """The API key B sends (an SDK takes it as such, and makes its own headers)."""
    if "x-api-key" in b.headers:
        return b.headers["x-api-key"]
    return b.headers.get("authorization", "").removeprefix("Bearer ")


def _not_an_event_stream(content_type: str, head: bytes) -> str:
    start = head[:100].decode("utf-8", "replace")
    body = f"body starts {start!r}" if start else "(empty body)"
    return f"HTTP 200 with content-type {content_type[:80]!r}, not text/event-stream; {body}"


def finish(r: RequestRecord, reading: Reading, prompt: Prompt) -> str:
    """Fill R from a READING that came to its end (no exception): tokens, the error the
    stream ended on, else the answer's outcome; the error detail ("" for none)."""
    r.last_token_ns = r.event_ns[-1] if r.event_ns else 0
    r.output_tokens = reading.output_tokens
    r.input_tokens = reading.usage_input_tokens or 0
    r.cached_tokens = reading.usage_cached_tokens
    r.tokens_counted = reading.counted
    if reading.error is not None:
        r.error = reading.error
    elif not reading.complete:
        r.error = ErrorClass.TRUNCATED
    if r.error is not None:
        return reading.error_detail or "stream ended without its terminal event"
    r.outcome = outcome_of(prompt.task, reading.answer)
    return ""

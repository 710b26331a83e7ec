"""A plain streaming client for tests: timestamps every SSE data event of one response."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson


@dataclass
class Result:
    """One response as a client saw it (times in seconds from the send)."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[float, bytes]] = field(default_factory=list)  # (t, data payload)
    token_times: list[float] = field(default_factory=list)
    body: bytes = b""
    error: str = ""  # "disconnect" when the connection broke mid-stream
    sent_at: float = 0.0  # perf_counter at send

    @property
    def ttft(self) -> float:
        """Seconds from send to the first content token."""
        return self.token_times[0]

    def speed(self) -> float:
        """Tokens/s between first and last token."""
        t = self.token_times
        return (len(t) - 1) / (t[-1] - t[0])


def _is_token(payload: bytes) -> bool:
    if payload == b"[DONE]":
        return False
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content") or delta.get("tool_calls"):
            return True
    return obj.get("type") in ("content_block_delta", "response.output_text.delta")


async def request(
    session: aiohttp.ClientSession,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Result:
    """POST BODY to URL and read the whole response, stamping each SSE event."""
    r = Result()
    r.sent_at = time.perf_counter()
    try:
        async with session.post(
            url,
            data=orjson.dumps(body),
            headers={"content-type": "application/json", **(headers or {})},
        ) as resp:
            r.status = resp.status
            r.headers = {k.lower(): v for k, v in resp.headers.items()}
            if not resp.headers.get("content-type", "").startswith("text/event-stream"):
                r.body = await resp.read()
                return r
            buf = b""
            async for chunk in resp.content.iter_any():
                now = time.perf_counter() - r.sent_at
                buf += chunk
                while b"\n\n" in buf:
                    event, buf = buf.split(b"\n\n", 1)
                    for line in event.split(b"\n"):
                        if line.startswith(b"data:"):
                            payload = line[5:].strip()
                            r.events.append((now, payload))
                            if _is_token(payload):
                                r.token_times.append(now)
    except (
        aiohttp.ClientPayloadError,
        aiohttp.ServerDisconnectedError,
        aiohttp.ClientOSError,
    ) as exc:
        r.error = f"disconnect: {type(exc).__name__}"
    return r


async def many(
    url: str,
    bodies: Iterable[dict[str, Any]],
    concurrency: int,
    headers: dict[str, str] | None = None,
) -> list[Result]:
    """Send BODIES with at most CONCURRENCY in flight; results in input order."""
    sem = asyncio.Semaphore(concurrency)
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(b: dict[str, Any]) -> Result:
            async with sem:
                return await request(session, url, b, headers)

        return list(await asyncio.gather(*(one(b) for b in bodies)))


def chat(model: str, max_tokens: int, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    """A Chat Completions body with a short prompt and an exact output length."""
    return {
        "model": model,
        "stream": stream,
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "messages": [{"role": "user", "content": "Say something."}],
        **extra,
    }


def write_config(tmp: Path, text: str) -> Path:
    """Write a simulator TOML config and return its path."""
    path = tmp / "sim.toml"
    path.write_text(text)
    return path


def quantile(values: list[float], q: float) -> float:
    """The Q quantile (nearest rank) of VALUES."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * len(v)) - 1))]

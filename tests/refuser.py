"""A small real server on 127.0.0.1 that refuses every request, for tests of how
loadtest takes refusals (hammering, preflight, the servers' messages)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Self

from aiohttp import web


class Refuser:
    """An aiohttp server in a thread: every POST gets STATUS (and HEADERS) with an
    OpenAI-shaped error whose message is MESSAGE(n) for the n-th request; it counts them."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str] | None = None,
        message: Callable[[int], str] | None = None,
    ) -> None:
        self.status, self.headers, self.count = status, headers or {}, 0
        self.message = message or (lambda n: f"refused with {status}")
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.count += 1
        await request.read()
        return web.json_response(
            {"error": {"message": self.message(self.count)}},
            status=self.status,
            headers=self.headers,
        )

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v1"
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Self:
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)

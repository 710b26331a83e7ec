"""What a run shows while it goes: the dashboard in a terminal, plain lines elsewhere.

Redrawn once per closed interval from an immutable snapshot (loadtest.dashboard), so
the drawing never races the engine and costs one render per interval; percentiles come
from the interval's tallies, never from a histogram query or a request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from rich.console import Console
from rich.live import Live

from loadtest.dashboard import DashboardState, plain_lines, render
from loadtest.records import Health, Interval, RequestRecord, TargetStatus
from loadtest.server_scrape import Row
from loadtest.server_summary import dashboard_line


class LiveView:
    """Progress per target, redrawn at each interval: a Sink of the run."""

    def __init__(self, console: Console, title: str, duration_s: float, live: bool) -> None:
        self.console = console
        self.state = DashboardState(title, duration_s)
        # Redraw only when an interval closes: rich's own 4 Hz refresh renders on another
        # thread while holding the GIL, and showed as event-loop lag in the self-check.
        self._live = Live(console=console, auto_refresh=False, transient=False) if live else None
        self.start_ns = 0
        # The latest interval of a target's server metrics (Scrapes.latest), if scraped.
        self.server: Callable[[str], Row | None] = lambda target: None

    def __enter__(self) -> LiveView:
        if self._live is not None:
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            # The terminal may be gone (a closed window, a dropped SSH session): the run's
            # files are written regardless, so a failed last redraw is not an error.
            with contextlib.suppress(OSError):
                self._live.__exit__(None, None, None)

    def start(self, wall_s: float, start_ns: int) -> None:
        """Elapsed time counts from START_NS."""
        self.start_ns = start_ns

    def request(
        self, r: RequestRecord, metrics: dict[str, int], detail: str, measured: bool
    ) -> None:
        """Nothing per request: the view is redrawn per interval."""

    def interval(self, iv: Interval, health: Health, status: Mapping[str, TargetStatus]) -> None:
        """Show the interval that just closed."""
        elapsed_s = (iv.end_ns - self.start_ns) / 1e9
        # Only the full dashboard shows run-so-far percentiles; log lines do not.
        server = {}
        for name in status:
            row = self.server(name)
            if row is not None:
                server[name] = dashboard_line(row.delta)
        snap = self.state.update(iv, health, status, elapsed_s, self._live is not None, server)
        if self._live is None:
            for line in plain_lines(snap):  # a log line stays one line, whatever the width
                self.console.print(line, highlight=False, markup=False, soft_wrap=True)
            return
        size = self.console.size
        self._live.update(render(snap, size.width, size.height - 1), refresh=True)

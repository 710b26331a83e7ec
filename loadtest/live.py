"""What a run shows while it goes: a rich table in a terminal, plain lines elsewhere.

Percentiles are computed once per closed interval, from its tallies (decoding an
hdrh histogram to query it costs milliseconds of loop time), never per request.
Each update hands rich a new table built from immutable values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtest.engine import Health, TargetRun
from loadtest.metrics import TTFT
from loadtest.recorder import Interval


class LiveView:
    """Progress per target, redrawn at each interval."""

    def __init__(self, console: Console, title: str, duration_s: float, live: bool) -> None:
        self.console = console
        self.title = title
        self.duration_s = duration_s
        # Redraw only when an interval closes: rich's own 4 Hz refresh renders on another
        # thread while holding the GIL, and showed as event-loop lag in the self-check.
        self._live = Live(console=console, auto_refresh=False, transient=False) if live else None

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

    def update(
        self, iv: Interval, health: Health, runs: Mapping[str, TargetRun], elapsed_s: float
    ) -> None:
        """Show the interval that just closed."""
        seconds = max(1e-9, (iv.end_ns - iv.start_ns) / 1e9)
        rows = []
        for name, tr in runs.items():
            c = iv.counts[name]
            v = iv.percentiles(name, TTFT, (50.0, 95.0))
            p50, p95 = (f"{v[p] / 1000:.0f}" if v else "-" for p in (50.0, 95.0))
            rows.append(
                (
                    name,
                    tr.sent,
                    tr.in_flight,
                    f"{c.completed / seconds:.1f}",
                    p50,
                    p95,
                    f"{c.output_tokens / seconds:.0f}",
                    sum(c.errors.values()),
                    tr.late + tr.shed,
                )
            )
        warn = "  CLIENT SATURATED" if health.saturated else ""
        head = (
            f"{self.title}  {elapsed_s:.0f}/{self.duration_s:.0f}s  "
            f"loop lag p99 {health.loop_lag_p99_ms:.1f} ms  cpu {health.cpu_percent:.0f}%"
            f"{warn}"
        )
        if self._live is None:
            self.console.print(head)
            for r in rows:
                self.console.print(
                    f"  {r[0]}: sent {r[1]} in-flight {r[2]} req/s {r[3]} "
                    f"ttft p50 {r[4]} p95 {r[5]} ms tok/s {r[6]} errors {r[7]} "
                    f"late+shed {r[8]}"
                )
            return
        table = Table(title=head, title_justify="left")
        for col in (
            "target",
            "sent",
            "in flight",
            "req/s",
            "TTFT p50 ms",
            "TTFT p95 ms",
            "tok/s",
            "errors",
            "late+shed",
        ):
            table.add_column(col, justify="left" if col == "target" else "right")
        for r in rows:
            table.add_row(*(str(x) for x in r))
        self._live.update(table, refresh=True)

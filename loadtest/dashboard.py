"""The live dashboard: immutable snapshots built at interval boundaries, and pure
renderers for them (rich panels for a terminal, plain lines for logs).

DashboardState folds each closed interval's tallies into run-so-far tallies, so both
"last interval" and "run so far" percentiles cost a sort of the distinct values, never a
histogram query, and nothing is computed per request.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from loadtest.headroom import headroom_text
from loadtest.messages import top
from loadtest.metrics import E2E, ITL, TTFT, unit_of
from loadtest.records import Health, Interval, TargetStatus
from loadtest.tally import merge_tallies, tally_percentiles

SHOWN = (TTFT, ITL, E2E)
PS = (50.0, 95.0, 99.0)
BARS = "▁▂▃▄▅▆▇█"
PANEL_WIDTH = 48
HISTORY = 60  # intervals kept for the sparkline
SHORT_S = 0.5  # an interval shorter than this shows its rates with the one before


def sparkline(values: list[float], width: int) -> str:
    """The last WIDTH values as block characters scaled from 0 to their maximum."""
    vals = values[-width:]
    if not vals:
        return ""
    top = max(vals) or 1.0
    return "".join(BARS[min(len(BARS) - 1, int(v / top * (len(BARS) - 1) + 0.5))] for v in vals)


@dataclass(frozen=True)
class TargetView:
    """What one target's panel shows."""

    name: str
    offered: str
    achieved_rps: float
    tok_s: float
    sent: int
    in_flight: int
    late: int
    shed: int
    errors: tuple[tuple[str, int], ...]
    headroom: str
    last: dict[str, tuple[float, ...]]  # metric -> p50, p95, p99 in ms (empty: no data)
    run: dict[str, tuple[float, ...]]
    ttft_p95_history: tuple[float, ...]
    last_error: str = ""  # 'class: what the server said', from the latest interval with one
    server: str = ""  # its server's own metrics of the latest scraped interval (ms)


@dataclass(frozen=True)
class Snapshot:
    """The whole screen at one moment."""

    title: str
    elapsed_s: float
    duration_s: float
    lag_p99_ms: float
    cpu_percent: float
    saturated: bool
    targets: tuple[TargetView, ...]
    cause: str = ""  # Health.cause: why the client's own delay is in this interval's numbers


def headroom(headers: Mapping[str, str]) -> str:
    """'req 3998/4000 tok 39k/40k' from OpenAI's or Anthropic's rate-limit headers."""
    return headroom_text(headers)


class DashboardState:
    """Run-so-far tallies, error counts and history, updated once per interval."""

    def __init__(self, title: str, duration_s: float) -> None:
        self.title = title
        self.duration_s = duration_s
        self._run: dict[str, dict[str, dict[int, int]]] = {}
        self._errors: dict[str, Counter[str]] = {}
        self._history: dict[str, list[float]] = {}
        self._headers: dict[str, dict[str, str]] = {}
        self._last_error: dict[str, str] = {}
        self._last: Snapshot | None = None
        self._previous: dict[str, tuple[int, int, float]] = {}  # completed, tokens, seconds

    def update(
        self,
        iv: Interval,
        health: Health,
        status: Mapping[str, TargetStatus],
        elapsed_s: float,
        with_run: bool = True,
        server: Mapping[str, str] | None = None,
    ) -> Snapshot:
        """Fold the closed interval IV in; returns the snapshot to show. WITH_RUN: keep
        the run-so-far percentiles too (thousands of buckets to merge and sort each
        interval, a few ms of the event loop on a long run: only for the dashboard).
        SERVER: a line of each scraped target's server metrics."""
        seconds = max(1e-9, (iv.end_ns - iv.start_ns) / 1e9)
        views = []
        for name, tr in status.items():
            c = iv.counts[name]
            run = self._run.setdefault(name, {})
            for metric, values in iv.tallies.get(name, {}).items() if with_run else ():
                merge_tallies([values], run.setdefault(metric, {}))
            errors = self._errors.setdefault(name, Counter())
            errors.update(c.errors)
            if c.ratelimit:
                self._headers[name] = dict(c.ratelimit)
            said = top(c.messages, 1)
            if said:
                self._last_error[name] = f"{said[0][0]}: {said[0][1]}"
            last = {m: self._ms(iv.percentiles(name, m, PS)) for m in SHOWN}
            history = self._history.setdefault(name, [])
            if last[TTFT]:
                history.append(last[TTFT][1])
                del history[:-HISTORY]
            done, tokens, span = c.completed, c.output_tokens, seconds
            before = self._previous.get(name)
            if span < SHORT_S and before is not None:
                # The drain's interval after the last boundary can last a few ms: its
                # rates alone would say 700 req/s. Taken with the interval before it.
                done, tokens, span = done + before[0], tokens + before[1], span + before[2]
            self._previous[name] = (c.completed, c.output_tokens, seconds)
            views.append(
                TargetView(
                    name=name,
                    offered=tr.offered_text,
                    achieved_rps=done / span,
                    tok_s=tokens / span,
                    sent=tr.sent,
                    in_flight=tr.in_flight,
                    late=tr.late,
                    shed=tr.shed,
                    errors=tuple(sorted(errors.items())),
                    headroom=headroom(self._headers.get(name, {})),
                    last=last,
                    run={m: self._ms(tally_percentiles(run[m], PS)) for m in SHOWN if m in run},
                    ttft_p95_history=tuple(history),
                    last_error=self._last_error.get(name, ""),
                    server=(server or {}).get(name, ""),
                )
            )
        self._last = Snapshot(
            self.title,
            elapsed_s,
            self.duration_s,
            health.loop_lag_p99_ms,
            health.cpu_percent,
            health.saturated,
            tuple(views),
            # Of several worker processes, the one whose client was saturated.
            f"{health.cause} (worker {health.worker})"
            if health.cause and health.worker >= 0
            else health.cause,
        )
        return self._last

    @staticmethod
    def _ms(v: dict[float, int]) -> tuple[float, ...]:
        scale = unit_of(TTFT)[1]  # every metric shown is a duration
        return tuple(v[p] / scale for p in PS) if v else ()


def _ms3(v: tuple[float, ...]) -> str:
    if not v:
        return "-"
    return "/".join(f"{x:.0f}" if x >= 10 else f"{x:.1f}" for x in v)


def target_panel(t: TargetView, width: int = PANEL_WIDTH) -> Panel:
    """One target: rates, latency (last interval and run), sparkline, errors.

    Plain Text lines in a Panel: a nested rich Table cost 10 ms a redraw, on the event
    loop; this costs under 3 ms for three targets."""
    x = Text(no_wrap=True, overflow="ellipsis")
    x.append("offered ", "dim")
    x.append(f"{t.offered}  achieved {t.achieved_rps:.1f} req/s\n")
    x.append("tokens  ", "dim")
    x.append(f"{t.tok_s:,.0f} tok/s  in flight {t.in_flight}  sent {t.sent}\n")
    x.append(f"{'ms p50/95/99':<12}{'last':>16}{'run so far':>16}\n", "dim")
    for m in SHOWN:
        x.append(f"{m.upper():<12}{_ms3(t.last.get(m, ())):>16}{_ms3(t.run.get(m, ())):>16}\n")
    top = max(t.ttft_p95_history, default=0.0)
    x.append("TTFT p95 ", "dim")
    x.append(sparkline(list(t.ttft_p95_history), width - 20), "cyan")
    x.append(f" max {top:.0f} ms\n", "dim")
    if t.server:
        for i, part in enumerate(t.server.split(" | ")):  # timings, then what it holds
            x.append("server " if i == 0 else "       ", "dim")
            x.append(f"{part}\n")
    errs = ", ".join(f"{k} {v}" for k, v in t.errors)
    x.append(f"errors {errs}" if errs else "errors 0", "red" if errs else "green")
    if t.last_error:
        x.append(f"\n{t.last_error}", "red")
    if t.late or t.shed:
        x.append(f"\nlate {t.late}  shed {t.shed}", "yellow")
    if t.headroom:
        x.append(f"\nlimits {t.headroom}", "dim")
    return Panel(x, title=f"[bold]{t.name}[/]", title_align="left", width=width)


def compact_table(s: Snapshot) -> Table:
    """A line per target, for a terminal where the panels do not fit (80x24 with three
    targets): every target stays in view, with what its panel leads with."""
    table = Table(box=None, padding=(0, 0, 0, 1), pad_edge=False, show_edge=False)
    heads = ("target", "offered", "req/s", "in fl", "TTFT 50/95/99", "ITL 50/99", "E2E p95")
    for h in heads:
        # Numbers keep their width; a long target name is what gets cut.
        numeric = h not in ("target", "offered")
        table.add_column(
            h,
            justify="right" if numeric else "left",
            no_wrap=True,
            min_width=len(h) if numeric else None,
            overflow="ellipsis",
        )
    table.add_column("errors", no_wrap=True, justify="right")
    for t in s.targets:
        last = t.last
        errs = sum(n for _, n in t.errors)
        itl = last.get(ITL, ())
        e2e = last.get(E2E, ())
        table.add_row(
            Text(t.name, style="bold"),
            t.offered,
            f"{t.achieved_rps:.1f}",
            str(t.in_flight),
            _ms3(last.get(TTFT, ())),
            _ms3((itl[0], itl[2]) if itl else ()),
            _ms3(e2e[1:2]),
            Text(str(errs), style="red" if errs else "green"),
        )
    return table


def _height(p: Panel) -> int:
    assert isinstance(p.renderable, Text)
    return p.renderable.plain.count("\n") + 3  # its lines and two borders


def render(s: Snapshot, width: int = 200, height: int = 200) -> RenderableType:
    """The whole dashboard for a WIDTH x HEIGHT terminal: a header with progress and
    client health, then the panels, side by side as the width allows and as wide as it
    lets them be; or, where they do not fit the height, a line per target."""
    frac = min(1.0, s.elapsed_s / s.duration_s) if s.duration_s else 0.0
    head = Table.grid(padding=(0, 1))
    head.add_column(no_wrap=True)
    head.add_column(width=24)
    head.add_column(no_wrap=True)
    health = Text(f"loop lag p99 {s.lag_p99_ms:.1f} ms  cpu {s.cpu_percent:.0f}%")
    head.add_row(
        Text(s.title, style="bold"),
        ProgressBar(total=1.0, completed=frac, width=24),
        Text(f"{s.elapsed_s:.0f}/{s.duration_s:.0f}s  ") + health,
    )
    parts: list[RenderableType] = [head]
    if s.saturated:  # a line of its own: the title and progress stay where they are
        cause = (s.cause or "client saturated").upper()
        parts.append(Text(f"{cause}: latencies include its own delay", style="bold red"))
    n = max(1, len(s.targets))
    per_row = max(1, min(n, width // PANEL_WIDTH))
    panel_w = max(PANEL_WIDTH, min(2 * PANEL_WIDTH, width // per_row - 1))
    panels = [target_panel(t, panel_w) for t in s.targets]
    rows = [panels[i : i + per_row] for i in range(0, len(panels), per_row)]
    if len(parts) + sum(max(_height(p) for p in row) for row in rows) <= height:
        return Group(*parts, Columns(panels))
    return Group(*parts, compact_table(s))


def plain_lines(s: Snapshot) -> list[str]:
    """The snapshot as log lines, for output that is not a terminal."""
    warn = f"  {(s.cause or 'client saturated').upper()}" if s.saturated else ""
    out = [
        f"{s.title}  {s.elapsed_s:.0f}/{s.duration_s:.0f}s  "
        f"loop lag p99 {s.lag_p99_ms:.1f} ms  cpu {s.cpu_percent:.0f}%{warn}"
    ]
    for t in s.targets:
        errs = sum(n for _, n in t.errors)
        out.append(
            f"  {t.name}: sent {t.sent} in-flight {t.in_flight} req/s {t.achieved_rps:.1f} "
            f"ttft p50/95/99 {_ms3(t.last.get(TTFT, ()))} ms tok/s {t.tok_s:.0f} "
            f"errors {errs} late+shed {t.late + t.shed}"
            + (f" server {t.server}" if t.server else "")
            + (f" last error {t.last_error[:120]}" if t.last_error else "")
        )
    return out

"""Scheduled probes, the pure part: the `[schedule]` table, cron fire times, which fires
are due or missed, the daily budget, and the headline of a finished run.

The loop that sleeps, locks and starts runs is `loadtest.scheduler`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from loadtest import redact
from loadtest.config_reader import ConfigError, Table
from loadtest.instants import zone
from loadtest.paths import DEFAULT_STORE
from loadtest.peak import Window
from loadtest.schema import StatKey, Summary, TargetSummary, stat

CLOCKS = ("wall", "simulator")
DEFAULT_CRON = "0 * * * *"  # hourly, on the hour


@dataclass(frozen=True)
class Budget:
    """Caps per calendar day (in the schedule's zone); 0 means no cap."""

    requests: int = 0
    tokens: int = 0  # input + output, as the servers' usage reports them
    cost: float = 0.0  # estimated from the targets' input_price and output_price


@dataclass(frozen=True)
class AlertSpec:
    """What a check is (the `[schedule] alert` table, or `loadtest check`'s flags)."""

    factor: float = 1.5
    rate_jump: float = 0.05
    last_s: float = 3600.0  # `loadtest check` judges this much before the newest
    peak: str = "Mon-Fri 09-17"
    webhook: str = ""  # a URL; or webhook_env names the variable that holds one
    webhook_env: str = ""
    json: str = ""  # where to write each check's JSON ("" for nowhere)
    include_saturated: bool = False  # keep the probes whose client was saturated

    def webhook_url(self) -> str:
        """The URL to POST to, "" for none; ConfigError when the variable is unset."""
        if self.webhook_env:
            url = os.environ.get(self.webhook_env, "")
            if not url:
                raise ConfigError(f"webhook: ${self.webhook_env} is not set")
            return check_webhook(url, f"${self.webhook_env}")
        return self.webhook


def check_webhook(url: str, where: str) -> str:
    """URL if it is an http(s) URL; ConfigError (naming only its scheme) if not."""
    if not redact.is_http_url(url):
        scheme = url.partition("://")[0] if "://" in url else "no scheme"
        raise ConfigError(f"{where}: expected an http(s) URL, got one with {scheme}")
    return url


def read_alert(t: Table) -> AlertSpec:
    """The `[schedule] alert` table (or inline table)."""
    d = AlertSpec()
    spec = AlertSpec(
        factor=t.number("factor", d.factor, min=1.0),
        rate_jump=t.number("rate_jump", d.rate_jump, min=0.0, max=1.0),
        last_s=t.duration("last", d.last_s),
        peak=t.string("peak", d.peak),
        webhook=t.string("webhook", ""),
        webhook_env=t.string("webhook_env", ""),
        json=t.string("json", ""),
        include_saturated=t.boolean("include_saturated", False),
    )
    if spec.factor <= 1:
        raise t.error("factor", "a number > 1", spec.factor)
    try:
        Window.parse(spec.peak)
    except ValueError as exc:
        raise t.error("peak", str(exc).removeprefix("expected "), spec.peak) from None
    if spec.webhook:
        check_webhook(spec.webhook, t.where("webhook"))
    if spec.webhook and spec.webhook_env:
        raise t.error("webhook_env", "either webhook or webhook_env, not both")
    t.finish()
    return spec


@dataclass(frozen=True)
class ScheduleSpec:
    """When to run a profile and how much it may spend."""

    cron: str = DEFAULT_CRON
    tz: str = "UTC"
    jitter_s: float = 0.0  # each fire waits a random 0..jitter more, so probes don't align
    clock: str = "wall"  # "simulator": cron reads the running simulator's (warped) clock
    store: str = DEFAULT_STORE
    max_running: int = 1  # a fire that finds this many runs still going is skipped
    budget: Budget = field(default_factory=Budget)
    alert: AlertSpec | None = None  # a check after each probe (loadtest.alerting)


def check_cron(expr: str, where: str) -> str:
    """EXPR if croniter accepts it (five fields; six with seconds); ConfigError if not."""
    from croniter import croniter  # 40 ms of imports that only scheduling needs

    if not croniter.is_valid(expr):
        raise ConfigError(f"{where}: expected a cron expression such as '0 * * * *', got {expr!r}")
    return expr


def check_zone(name: str, where: str) -> ZoneInfo:
    """The zone named NAME; ConfigError naming WHERE if there is none."""
    try:
        return zone(name)
    except ValueError:
        raise ConfigError(
            f"{where}: expected a zone such as America/New_York, got {name!r}"
        ) from None


def read_schedule(t: Table | None) -> ScheduleSpec | None:
    """The profile's `[schedule]` table (None when it has none)."""
    if t is None:
        return None
    d = ScheduleSpec()
    b = t.table("budget")
    budget = Budget()
    if b is not None:
        budget = Budget(
            b.integer("requests", 0, min=0),
            b.integer("tokens", 0, min=0),
            b.number("cost", 0.0, min=0),
        )
        b.finish()
    a = t.table("alert")
    alert = read_alert(a) if a is not None else None
    spec = ScheduleSpec(
        cron=check_cron(t.string("cron", d.cron), t.where("cron")),
        tz=t.string("tz", d.tz),
        jitter_s=t.duration("jitter", 0.0, positive=False),
        clock=t.string("clock", d.clock, choices=CLOCKS),
        store=t.string("store", d.store),
        max_running=t.integer("max_running", 1, min=1),
        budget=budget,
        alert=alert,
    )
    check_zone(spec.tz, t.where("tz"))
    t.finish()
    return spec


def next_fire(cron: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first fire of CRON strictly after AFTER, read in TZ (an aware datetime)."""
    from croniter import croniter

    nxt = croniter(cron, after.astimezone(tz)).get_next(datetime)
    assert isinstance(nxt, datetime)
    return nxt


def fires_between(cron: str, tz: ZoneInfo, after: datetime, upto: datetime) -> list[datetime]:
    """Every fire in (AFTER, UPTO], oldest first."""
    from croniter import croniter

    out: list[datetime] = []
    it = croniter(cron, after.astimezone(tz))
    while True:
        f = it.get_next(datetime)
        assert isinstance(f, datetime)
        if f > upto:
            return out
        out.append(f)


def due_and_missed(passed: list[datetime]) -> tuple[datetime | None, list[datetime]]:
    """Of the fires that passed while the scheduler slept, the newest runs and the
    older ones are missed: late fires are skipped, never piled up."""
    if not passed:
        return None, []
    return passed[-1], passed[:-1]


def day_of(instant: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar day (in TZ) holding INSTANT: its start and the next day's start."""
    local = instant.astimezone(tz)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=1)  # wall-clock arithmetic: a DST day is 23 or 25 h long
    return start, end


@dataclass
class Usage:
    """What runs spent: requests sent, tokens and estimated cost (USD)."""

    requests: int = 0
    tokens: int = 0
    cost: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.requests + other.requests, self.tokens + other.tokens, self.cost + other.cost
        )


def usage_of(
    target_summary: TargetSummary, price: tuple[float | None, float | None] = (None, None)
) -> Usage:
    """The spend of one target of a run (its block of summary.json); PRICE is USD per
    million input and output tokens."""
    tokens = target_summary["tokens"]
    tin, tout = int(tokens["input"]), int(tokens["output"])
    cost = (tin * (price[0] or 0.0) + tout * (price[1] or 0.0)) / 1e6
    return Usage(int(target_summary["requests"]["sent"]), tin + tout, cost)


def over_budget(budget: Budget, used: Usage, next_run: Usage) -> str | None:
    """Why the next run must not start (it would pass a cap), or None when it may."""
    checks = (
        ("requests", budget.requests, used.requests, next_run.requests, "{:,.0f}"),
        ("tokens", budget.tokens, used.tokens, next_run.tokens, "{:,.0f}"),
        ("cost", budget.cost, used.cost, next_run.cost, "${:,.2f}"),
    )
    for name, cap, spent, more, fmt in checks:
        if cap and spent + more > cap:
            return (
                f"daily {name} budget: {fmt.format(spent)} of {fmt.format(cap)} spent, "
                f"the next run needs about {fmt.format(more)}"
            )
    return None


def headline(summary: Summary) -> str:
    """One line per run: each target's requests, errors, TTFT P50/P95 and E2E P95."""
    parts = []
    for name, t in summary["targets"].items():
        req = t["requests"]

        def ms(metric: str, key: StatKey, t: TargetSummary = t) -> str:
            v = stat(t, metric, key)
            return "-" if v is None else f"{v:,.0f}"

        parts.append(
            # recorded, not sent: warm-up requests are sent but not measured
            f"{name}: {req['completed']}/{req['recorded']} ok, "
            f"ttft p50 {ms('ttft', 'p50')} p95 {ms('ttft', 'p95')} ms, "
            f"e2e p95 {ms('e2e', 'p95')} ms"
        )
    return "; ".join(parts)

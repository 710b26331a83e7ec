"""`loadtest schedule`: run a profile at every cron fire, for days, and keep each run.

Each probe is a child process, `loadtest run PROFILE --store DB --quiet`, so a run that
crashes or leaks cannot take the scheduler down, and the run's own Ctrl-C and SIGTERM
handling writes its results. One scheduler holds a profile at a time (an flock on a
file beside the store). Fires that pass while the scheduler is late or busy are
skipped and counted, never piled up; a daily budget, read back from the store so a
restart does not reset it, skips fires that would overspend. SIGTERM or Ctrl-C stops
new fires and waits for the runs in flight.

A run counts as done when it exits 0 or 99 (a threshold failed: logged so); any other
exit (4: a target completed no request, 143: SIGTERM from elsewhere, 1: a worker died)
counts as failed, logged with the last line of its stderr, though its files and its
row in the store are kept.

The clock is the wall clock, or with `clock = "simulator"` the running simulator's
(its /sim/info endpoint): under a time warp, cron fires in simulated time, the same
time the runs are stamped with.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import random
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import aiohttp

from loadtest import store
from loadtest.clocks import Clock, WallClock, clock_for, sleep_until
from loadtest.errors import ConfigError, ExitCode, RuntimeFailure
from loadtest.instants import format_instant, instant_or_offset
from loadtest.loop import new_event_loop
from loadtest.paths import file_safe
from loadtest.profile import Profile
from loadtest.prom_export import Exporter
from loadtest.schedule import (
    ScheduleSpec,
    Usage,
    check_zone,
    day_of,
    due_and_missed,
    fires_between,
    headline,
    next_fire,
    over_budget,
    usage_of,
)
from loadtest.schema import Summary, parse_summary

LEAD_S = 2.0  # real seconds between starting a run's process and its fire
RUN = (sys.executable, "-m", "loadtest", "run")
GRACE_S = 60.0  # a fire found later than this (real seconds; a suspended machine) is missed


class ProfileLock:
    """An exclusive flock on LOCK_PATH, held while a scheduler runs a profile."""

    def __init__(self, path: Path, profile: str) -> None:
        self.path = path
        self.profile = profile
        self._file: IO[str] | None = None

    def __enter__(self) -> ProfileLock:
        try:  # before the first fire: a lock that cannot be made is said at once
            self.path.parent.mkdir(parents=True, exist_ok=True)
            f = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise RuntimeFailure(
                f"{self.profile}: cannot make the schedule's lock {self.path} ({exc.strerror})"
            ) from None
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RuntimeFailure(
                f"{self.profile}: already scheduled by {holder} (lock {self.path})"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        self._file = f
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing releases the flock


def lock_path(profile: Profile, store_path: str) -> Path:
    """Where the lock of PROFILE lives: beside the store, named for the profile."""
    return Path(store_path).parent / f".schedule-{file_safe(profile.name)}.lock"


@dataclass
class Counts:
    """What the scheduler did."""

    fires: int = 0
    runs: int = 0
    failed: int = 0
    missed_late: int = 0
    missed_busy: int = 0
    skipped_budget: int = 0
    cancelled: int = 0  # started ahead of their fire, stopped before it came
    alerts: int = 0  # found by the check after each probe ([schedule] alert)

    def describe(self) -> str:
        return (
            f"{self.runs} run{'s' if self.runs != 1 else ''} ({self.failed} failed), "
            f"fires skipped: {self.missed_late} late, {self.missed_busy} busy, "
            f"{self.skipped_budget} over budget"
            + (f", {self.cancelled} cancelled before starting" if self.cancelled else "")
            + (f", {self.alerts} alert{'s' if self.alerts != 1 else ''}" if self.alerts else "")
        )


class Scheduler:
    """Fires PROFILE's runs on SPEC's cron until stopped, UNTIL or MAX_FIRES."""

    def __init__(
        self,
        profile: Profile,
        spec: ScheduleSpec,
        *,
        until: datetime | str | None = None,
        max_fires: int | None = None,
        log: Callable[[str], None] = print,
        run_args: list[str] | None = None,
        clock: Clock | None = None,
        exporter: Exporter | None = None,
    ) -> None:
        self.profile = profile
        self.exporter = exporter  # each probe folded in as it finishes (--metrics-port)
        self.spec = spec
        self.tz = check_zone(spec.tz, "--tz")
        self._until = until
        self.max_fires = max_fires
        self._log = log
        self.run_args = run_args or []
        self.counts = Counts()
        self.stop = asyncio.Event()
        self._given_clock = clock  # None: chosen by spec.clock when run() starts
        self.clock: Clock = clock or WallClock()
        self._rng = random.Random()
        self._running: set[asyncio.Task[None]] = set()
        self._waiting: dict[asyncio.subprocess.Process, datetime] = {}  # child -> its start
        self._last_usage: Usage | None = None
        self._prices = {t.name: (t.input_price, t.output_price) for t in profile.targets}
        # read now, so that an unset $VAR is an error before the first fire
        self._webhook = spec.alert.webhook_url() if spec.alert is not None else ""

    def _when(self, fire: datetime) -> str:
        """A fire's time of day in the zone; with seconds when it has them."""
        local = fire.astimezone(self.tz)
        return f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"

    def log(self, text: str) -> None:
        stamp = self.clock.now().astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S %Z")
        self._log(f"[{stamp}] {text}")

    async def run(self) -> Counts:
        """Schedule until stopped; then wait for the runs in flight."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            self.clock = self._given_clock or clock_for(self.spec.clock, self.profile, session)
            await self.clock.sync()
            start = self.clock.now()
            until = self._resolve_until(start)
            self.log(
                f"scheduling {self.profile.name} on '{self.spec.cron}' ({self.spec.tz}"
                + (f", simulator clock at {self.clock.rate:g}x" if self.clock.rate != 1 else "")
                + f"), store {self.spec.store}"
                + (f", until {until.astimezone(self.tz):%Y-%m-%d %H:%M %Z}" if until else "")
            )
            last = start
            # A run's process is started LEAD_S ahead and waits for its instant, so that
            # Python's start-up (most of a second on a busy machine, an hour of a warped
            # simulator's day) does not delay the probe.
            while not self.stop.is_set():
                fire = next_fire(self.spec.cron, self.tz, last)
                if until is not None and fire > until:
                    break
                lead = timedelta(seconds=LEAD_S * self.clock.rate)
                if self.spec.max_running == 1:
                    # at most half the gap to the next fire, or a waiting run would make
                    # the one before it look busy
                    lead = min(lead, (next_fire(self.spec.cron, self.tz, fire) - fire) / 2)
                jitter = timedelta(seconds=self._rng.uniform(0, self.spec.jitter_s))
                if not await sleep_until(self.clock, fire + jitter - lead, self.stop):
                    break
                now = self.clock.now()
                # Normally we wake ahead of FIRE; fires already past are ones we were late for
                # (a suspended machine, a stalled loop): run the newest, skip the rest.
                due, missed = due_and_missed(
                    fires_between(self.spec.cron, self.tz, last, now - jitter)
                )
                due = due or fire
                last = due
                if missed:
                    self.counts.missed_late += len(missed)
                    self.log(f"skipped {len(missed)} fire(s) that passed while late")
                if until is not None and due > until:
                    break
                if due + jitter < now - timedelta(seconds=GRACE_S * self.clock.rate):
                    self.counts.missed_late += 1
                    self.log(f"skipped the {self._when(due)} fire: found it too late")
                    continue
                self._fire(due, due + jitter)
                if self.max_fires is not None and self.counts.fires >= self.max_fires:
                    break
            if self.stop.is_set():
                # Children still waiting for their fire have loaded nothing worth keeping.
                now = self.clock.now()
                for proc, at in list(self._waiting.items()):
                    if at > now and proc.returncode is None:
                        proc.terminate()
            if self._running:
                self.log(f"waiting for {len(self._running)} run(s) in flight")
                await asyncio.gather(*self._running, return_exceptions=True)
        self.log(f"stopped: {self.counts.describe()}")
        return self.counts

    def _resolve_until(self, start: datetime) -> datetime | None:
        u = self._until
        if u is None or isinstance(u, datetime):
            return u
        try:
            return instant_or_offset(u, start, 1)
        except ValueError:
            raise ConfigError(
                f"--until: expected a duration such as 7d or an ISO instant, got {u!r}"
            ) from None

    def _fire(self, due: datetime, start_at: datetime) -> None:
        self.counts.fires += 1
        if len(self._running) >= self.spec.max_running:
            self.counts.missed_busy += 1
            self.log(f"skipped the {self._when(due)} fire: {len(self._running)} run(s) still going")
            return
        reason = over_budget(self.spec.budget, self._spent_today(due), self._next_run_usage())
        if reason:
            self.counts.skipped_budget += 1
            self.log(f"skipped the {self._when(due)} fire: {reason}")
            return
        task = asyncio.get_running_loop().create_task(self._probe(due, start_at))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _spent_today(self, instant: datetime) -> Usage:
        if not any((self.spec.budget.requests, self.spec.budget.tokens, self.spec.budget.cost)):
            return Usage()
        start, end = day_of(instant, self.tz)
        total = Usage()
        with contextlib.closing(store.connect(self.spec.store)) as db:
            for target, summary in store.target_summaries(db, self.profile.name, start, end):
                total += usage_of(summary, self._prices.get(target, (None, None)))
        # runs in flight are not in the store yet; count what each will likely spend
        for _ in self._running:
            total += self._next_run_usage()
        return total

    def _next_run_usage(self) -> Usage:
        if self._last_usage is not None:
            return self._last_usage
        return planned_usage(self.profile)

    async def _probe(self, due: datetime, start_at: datetime) -> None:
        cmd = [*RUN, self.profile.path, "--store", self.spec.store, "--quiet"]
        cmd += ["--no-live", "--start-at", format_instant(start_at), "--clock", self.spec.clock]
        if self.spec.clock == "simulator":
            # A warped clock has no real time to spare: at 6048x the preflight's few hundred
            # ms are half an hour, and probes would start past their fires.
            cmd.append("--no-preflight")
        cmd += self.run_args
        try:
            proc = await asyncio.create_subprocess_exec(
                *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
            )
            self._waiting[proc] = start_at
            try:
                out, err = await proc.communicate()
            finally:
                del self._waiting[proc]
        except OSError as exc:
            self.counts.failed += 1
            self.log(f"run of {self._when(due)} could not start: {exc}")
            return
        lines = out.decode(errors="replace").strip().splitlines()
        run_dir = Path(lines[-1]) if lines else None
        summary = _read_summary(run_dir)
        if (
            summary is None
            and self.stop.is_set()
            and proc.returncode in (-signal.SIGTERM, ExitCode.INTERRUPTED)
        ):
            self.counts.cancelled += 1
            self.log(f"run of {self._when(due)} cancelled before it started")
            return
        code = proc.returncode
        # The scheduler's own stop reaches its children too when it comes to the whole
        # group (a terminal's Ctrl-C, a service manager's SIGTERM): a run cut short so.
        cut_short = self.stop.is_set() and code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)
        finished = code in (ExitCode.OK, ExitCode.THRESHOLDS_FAILED) or cut_short
        if self.exporter is not None and summary is not None and run_dir is not None:
            outcome = "ok" if code == ExitCode.OK else "failed"
            self.exporter.fold_run(run_dir, summary, outcome if finished else "error")
        if summary is None or not finished:
            # No summary, or one from a run that failed: a target recorded only failures
            # (exit 4), SIGTERM from elsewhere (143), Ctrl-C (130), a worker died.
            self.counts.failed += 1
            if self.exporter is not None and summary is None:
                self.exporter.run_failed(self.profile.name)
            why = err.decode(errors="replace").strip().splitlines()
            self.log(
                f"run of {self._when(due)} failed (exit {code}): "
                + (why[-1] if why else "no output")
                + (f" -> {run_dir}" if summary is not None else "")
            )
            return
        self.counts.runs += 1
        self._last_usage = sum(
            (usage_of(t, self._prices.get(n, (None, None))) for n, t in summary["targets"].items()),
            Usage(),
        )
        gate = " thresholds FAILED," if code == ExitCode.THRESHOLDS_FAILED else ""
        gate = f" cut short by the stop (exit {code})," if cut_short else gate
        self.log(
            f"run of {self._when(due)} done in {summary['run']['duration_s']:.1f} s,{gate} "
            f"{headline(summary)} -> {run_dir}"
        )
        if self.spec.alert is not None and run_dir is not None:
            from loadtest.alerting import check_run

            said, alerts = await asyncio.to_thread(
                check_run, self.spec.alert, self._webhook, self.spec.store, self.spec.tz, run_dir
            )
            self.counts.alerts += alerts
            for line in said:
                self.log(line)


def _read_summary(run_dir: Path | None) -> Summary | None:
    if run_dir is None:
        return None
    try:
        return parse_summary((run_dir / "summary.json").read_bytes())
    except (OSError, ValueError):
        return None


def planned_usage(profile: Profile) -> Usage:
    """A first guess of one run's spend, before any run has finished: its request cap
    per target (0 when it runs by time only) at the workload's mean lengths."""
    n = profile.requests
    w = profile.workload
    per_request = w.input_tokens.mean + w.output_tokens.mean
    cost = (
        sum(
            n
            * (
                w.input_tokens.mean * (t.input_price or 0)
                + w.output_tokens.mean * (t.output_price or 0)
            )
            for t in profile.targets
        )
        / 1e6
    )
    k = len(profile.targets)
    return Usage(n * k, int(n * k * per_request), cost)


def schedule(profile: Profile, spec: ScheduleSpec, **kwargs: Any) -> Counts:
    """Run the scheduler in the foreground until SIGTERM, Ctrl-C, --until or --fires."""
    loop = new_event_loop()
    try:
        with ProfileLock(lock_path(profile, spec.store), profile.path):
            sched = Scheduler(profile, spec, **kwargs)

            def on_signal(name: str) -> None:
                if not sched.stop.is_set():
                    sched.log(f"{name}: no new fires; the runs in flight finish")
                sched.stop.set()

            for sig, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")):
                loop.add_signal_handler(sig, on_signal, name)
            return loop.run_until_complete(sched.run())
    finally:
        loop.close()

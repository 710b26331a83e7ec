"""Load profiles: TOML validated once into frozen objects; flags override the common keys."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtest import redact
from loadtest.config_reader import ConfigError, Table, load_toml
from loadtest.loadspec import Load, read_load
from loadtest.pricing import price_fields, unpriced
from loadtest.providers.build import basic_auth_clash
from loadtest.providers.registry import kinds, provider
from loadtest.retry_policy import NO_RETRY, RetryPolicy, check_fallbacks, read_retry
from loadtest.schedule import ScheduleSpec, read_schedule
from loadtest.slo import Slo, read_slo
from loadtest.sse import MAX_EVENT
from loadtest.thresholds import Threshold, parse, parse_all
from loadtest.workload_spec import Workload, read_workload

SIM = "sim"  # base_url of targets served by the built-in simulator
RECORDS = ("all", "errors", "none")
CLIENTS = ("raw", "sdk")  # which requests get a line in results.jsonl


@dataclass(frozen=True)
class Target:
    """One endpoint and model under test."""

    name: str
    kind: str
    model: str
    base_url: str
    api_key_env: str
    headers: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()  # extra request body fields
    load: Load | None = None  # overrides the profile's load for this target
    # Kinds whose key is optional (openai-compatible: local servers often need none):
    # without an explicit api_key_env no key is sent, whatever the environment holds.
    api_key_required: bool = True
    stream_usage: bool = True  # ask Chat Completions targets for the usage chunk
    # USD per million tokens: the profile's, else loadtest/prices.toml's row for the
    # model (cost per call and per success, the cost ceiling, the scheduler's budget)
    input_price: float | None = None
    output_price: float | None = None
    price_source: str = ""  # where those figures come from; "" when there are none
    cached_price: float | None = None  # USD per million prompt-cache reads
    batch_discount: float = 0.0  # off through the provider's batch API (0.5: half)
    retry: RetryPolicy = NO_RETRY  # retries and fallback targets (loadtest.retry_policy)
    client: str = "raw"  # raw (aiohttp + loadtest's SSE parser) or sdk (loadtest.sdk_client)
    workload: Workload | None = None  # its own, the profile's [workload] with its keys over it
    # The server's Prometheus endpoint (loadtest.server_scrape): None tries the default
    # (openai-compatible servers and the simulator: /metrics beside /v1), "" scrapes none.
    metrics_url: str | None = None

    @property
    def uses_simulator(self) -> bool:
        """Whether this target is served by the built-in simulator."""
        return self.base_url == SIM


@dataclass(frozen=True)
class Timeouts:
    """Seconds allowed for each phase of a request."""

    connect_s: float = 10.0
    ttft_s: float = 60.0
    idle_s: float = 30.0
    total_s: float = 600.0


@dataclass(frozen=True)
class SimulatorSpec:
    """How to start the built-in simulator for targets whose base_url is "sim"."""

    config: str | None = None
    seed: int | None = None
    time_warp: float | None = None
    sim_start: str | None = None
    workers: int = 1


@dataclass(frozen=True)
class Profile:
    """A validated load profile."""

    name: str
    path: str
    targets: tuple[Target, ...]
    load: Load = Load()
    workload: Workload = Workload()
    timeouts: Timeouts = Timeouts()
    max_event_bytes: int = MAX_EVENT  # one SSE line or event, at most: past it, `protocol`
    duration_s: float = 30.0
    requests: int = 0  # stop after this many per target; 0 = no limit
    warmup_s: float = 0.0
    interval_s: float = 5.0
    error_budget: float = 1.0  # stop when this fraction of requests has failed
    seed: int = 0
    description: str = ""
    simulator: SimulatorSpec = SimulatorSpec()
    out_dir: str = "reports"
    thresholds: tuple[Threshold, ...] = ()  # SLO gates, judged at the end (exit 99)
    abort_on_fail: bool = False  # stop the run once a gate can no longer pass
    records: str = "all"  # results.jsonl lines: all requests, only "errors", or "none"
    slo: Slo | None = None  # per-request objectives: goodput counts the requests meeting them
    max_cost: float = 0.0  # USD: the run stops once its estimated spend reaches it (0: none)
    schedule: ScheduleSpec | None = None  # for `loadtest schedule`; a run ignores it
    workers: int = 1  # processes sending the load; 0 ("auto"): one per core left free

    def load_of(self, t: Target) -> Load:
        """The load applied to target T."""
        return t.load or self.load

    def workload_of(self, t: Target) -> Workload:
        """What target T's requests ask for."""
        return t.workload or self.workload


def load_profile(path: str | Path, env: Mapping[str, str] | None = None) -> Profile:
    """Read and validate a profile file. Raises ConfigError with one line."""
    root = load_toml(path)
    environ = os.environ if env is None else env
    p = from_table(root, Path(path), environ)
    root.finish()
    return p


def from_table(t: Table, path: Path, env: Mapping[str, str]) -> Profile:
    """The profile in table T (read from PATH); API key variables looked up in ENV."""
    load = read_load(t.table("load"), Load())
    gates: list[Threshold] = []
    targets = []
    for i, x in enumerate(t.tables("targets")):
        # Read before _target() finishes the table; bound to the target's name after.
        exprs = x.strings("thresholds", ())
        own = x.table("workload")
        target = _target(x, load, env)
        if own is not None:  # the profile's [workload], this target's keys over it
            merged = Table({**(t.data.get("workload") or {}), **own.data}, own.file, own.path)
            target = dataclasses.replace(target, workload=read_workload(merged, path.parent))
        targets.append(target)
        gates += [
            dataclasses.replace(g, target=target.name)
            for g in parse_all(exprs, f"{path}: targets[{i}].thresholds")
        ]
    if not targets:
        raise t.error("targets", "at least one [[targets]] table")
    names = [x.name for x in targets]
    if len(set(names)) != len(names):
        raise t.error("targets", "distinct target names", names)
    check_fallbacks(names, [x.retry for x in targets], str(path))
    sim = t.table("simulator")
    spec = SimulatorSpec()
    if sim is not None:
        spec = SimulatorSpec(
            sim.string("config", "") or None,
            sim.integer("seed", 0) if sim.has("seed") else None,
            sim.number("time_warp", 1.0, positive=True) if sim.has("time_warp") else None,
            sim.string("sim_start", "") or None,
            sim.integer("workers", 1, min=1),
        )
        sim.finish()
    schedule = read_schedule(t.table("schedule"))
    if schedule and schedule.budget.cost and (why := unpriced(targets)):
        raise ConfigError(f"{path}: schedule.budget.cost: expected {why}")
    return _warmup_fits(
        Profile(
            name=t.string("name", path.stem),
            path=str(path),
            description=t.string("description", ""),
            targets=tuple(targets),
            load=load,
            workload=read_workload(t.table("workload"), path.parent),
            timeouts=_timeouts(t.table("timeouts")),
            max_event_bytes=t.size("max_event_size", MAX_EVENT),
            duration_s=t.duration("duration", 30.0),
            requests=t.integer("requests", 0, min=0),
            warmup_s=t.duration("warmup", 0.0, positive=False),
            interval_s=t.duration("interval", 5.0),
            error_budget=t.number("error_budget", 1.0, min=0, max=1),
            seed=t.integer("seed", 0),
            simulator=spec,
            out_dir=t.string("out", "reports"),
            thresholds=_known_targets(
                parse_all(t.strings("thresholds", ()), f"{path}: thresholds"), names, path
            )
            + tuple(gates),
            abort_on_fail=t.boolean("abort_on_fail", False),
            records=t.string("records", "all", choices=RECORDS),
            slo=read_slo(t.table("slo")),
            max_cost=_max_cost(t, targets),
            schedule=schedule,
            workers=read_workers(t),
        ),
        f"{path}: warmup",
    )


def read_workers(t: Table) -> int:
    """`workers`: a count of processes, or "auto" (0)."""
    if not t.has("workers"):
        return 1
    v = t.raw("workers")
    if v == "auto":
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise t.error("workers", 'an integer >= 1 or "auto"', v)
    return v


def _known_targets(
    gates: tuple[Threshold, ...], names: list[str], where: object
) -> tuple[Threshold, ...]:
    """GATES, if each {target=NAME} names one of NAMES (else it could only fail, at the end)."""
    for i, g in enumerate(gates):
        if g.target is not None and g.target not in names:
            raise ConfigError(
                f"{where}: thresholds[{i}]: no target named {g.target!r} "
                f"({', '.join(names)}) in {g.expr!r}"
            )
    return gates


def _warmup_fits(p: Profile, where: str) -> Profile:
    """P, if its warm-up leaves some of the run to measure (else nothing is recorded)."""
    if p.warmup_s >= p.duration_s:
        fits = f"a warm-up shorter than the duration ({p.duration_s:g} s)"
        raise ConfigError(f"{where}: expected {fits}, got {p.warmup_s:g} s")
    return p


def _target(t: Table, default_load: Load, env: Mapping[str, str]) -> Target:
    kind = t.string("kind", "", choices=kinds())
    if not kind:
        raise t.error("kind", "one of " + ", ".join(kinds()))
    p = provider(kind)
    model = t.string("model", "")
    if not model:
        raise t.error("model", "a model name")
    default_base = env.get(p.base_url_env) or p.default_base_url
    base_url = t.string("base_url", default_base)
    if base_url != SIM and not redact.is_http_url(base_url):
        # Echoed only without a user or password: a "/" in a password would hide the host.
        got = base_url if "@" not in base_url else ...
        hint = "a URL with a host; percent-encode / ? # @ in a password"
        raise t.error("base_url", f'an http(s) URL or "{SIM}" for the simulator ({hint})', got)
    headers = t.table("headers")
    header_items: list[tuple[str, str]] = []
    if headers is not None:
        for k in headers:
            header_items.append((k, headers.string(k, "")))
        headers.finish()
    params = t.table("params")
    param_items = tuple((k, params.raw(k)) for k in params) if params is not None else ()
    load = t.table("load")
    key_env = t.string("api_key_env", p.key_env)
    target = Target(
        name=t.string("name", model),
        kind=kind,
        model=model,
        base_url=base_url.rstrip("/"),
        api_key_env=key_env,
        headers=tuple(header_items),
        params=param_items,
        load=read_load(load, default_load) if load is not None else None,
        # A kind whose key is optional sends one only from a variable the profile names.
        api_key_required=not p.key_optional or bool(key_env),
        stream_usage=t.boolean("stream_usage", True),
        retry=read_retry(t),
        client=t.string("client", "raw", choices=CLIENTS),
        metrics_url=_metrics_url(t),
        **price_fields(
            model,
            t.number("input_price", 0.0, min=0) if t.has("input_price") else None,
            t.number("output_price", 0.0, min=0) if t.has("output_price") else None,
            t.number("cached_input_price", 0.0, min=0) if t.has("cached_input_price") else None,
        ),
    )
    if refusal := basic_auth_clash(target):
        raise ConfigError(f"{t.where('base_url')}: {refusal}")
    if not target.stream_usage and not p.supports.stream_options:
        takers = kinds(lambda x: x.supports.stream_options)
        raise t.error("stream_usage", f"only for {' and '.join(takers)} targets", False)
    t.finish()
    return target


def _metrics_url(t: Table) -> str | None:
    """`metrics_url`: an http(s) URL, or "" for none; None when absent (the default)."""
    if not t.has("metrics_url"):
        return None
    url = t.string("metrics_url", "")
    if url and not redact.is_http_url(url):
        raise t.error("metrics_url", 'an http(s) URL, or "" to scrape none', redact.url(url))
    return url


def _max_cost(t: Table, targets: list[Target]) -> float:
    """The `max_cost` key: every target needs a price for the spend to be estimated."""
    ceiling = t.number("max_cost", 0.0, min=0)
    if ceiling and (why := unpriced(targets)):
        raise t.error("max_cost", why)
    return ceiling


def _timeouts(t: Table | None) -> Timeouts:
    if t is None:
        return Timeouts()
    d = Timeouts()
    out = Timeouts(
        t.duration("connect", d.connect_s),
        t.duration("ttft", d.ttft_s),
        t.duration("idle", d.idle_s),
        t.duration("total", d.total_s),
    )
    t.finish()
    return out


def override_notes(p: Profile, rate: float | None, concurrency: int | None) -> list[str]:
    """What --rate or --concurrency changes beyond a number: a line per target whose
    loop or steps they replace (so the switch is said, not silent)."""
    notes = []
    for t in p.targets:
        load = p.load_of(t)
        was = f"{t.name}'s {load.mode} loop" + (
            f" and its {len(load.steps)} steps become" if load.steps else " becomes"
        )
        if rate is not None and (load.mode == "closed" or load.steps):
            notes.append(f"--rate {rate:g}: {was} an open loop at {rate:g} req/s")
        if concurrency is not None and (load.mode == "open" or load.steps):
            notes.append(f"--concurrency {concurrency}: {was} a closed loop of {concurrency}")
    return notes


def apply_overrides(
    p: Profile,
    *,
    rate: float | None = None,
    concurrency: int | None = None,
    duration_s: float | None = None,
    requests: int | None = None,
    target: str | None = None,
    out_dir: str | None = None,
    thresholds: tuple[str, ...] = (),
    abort_on_fail: bool = False,
) -> Profile:
    """The profile with command-line flags applied (they win over every table)."""
    targets = p.targets
    if target is not None:
        chosen = tuple(t for t in targets if t.name == target)
        if not chosen:
            known = ", ".join(t.name for t in targets)
            raise ConfigError(f"--target: no target named {target!r} in {p.path} ({known})")
        targets = chosen
    names = [t.name for t in targets]

    def adjust(load: Load) -> Load:
        if rate is not None:
            load = dataclasses.replace(load, mode="open", rate=rate, steps=())
        if concurrency is not None:
            load = dataclasses.replace(load, mode="closed", concurrency=concurrency, steps=())
        return load

    if rate is not None and concurrency is not None:
        raise ConfigError(
            "--rate and --concurrency: give one (an open loop at a rate, or a closed loop)"
        )
    if rate is not None and not 0 < rate < math.inf:
        raise ConfigError(f"--rate: expected a number > 0, got {rate:g}")
    if concurrency is not None and concurrency < 1:
        raise ConfigError(f"--concurrency: expected an integer >= 1, got {concurrency}")
    targets = tuple(
        dataclasses.replace(t, load=adjust(t.load) if t.load else None) for t in targets
    )
    changes: dict[str, Any] = {"targets": targets, "load": adjust(p.load)}
    if duration_s is not None:
        if duration_s <= 0:
            raise ConfigError(f"--duration: expected a duration > 0, got {duration_s:g}")
        changes["duration_s"] = duration_s
    if requests is not None:
        if requests < 0:
            raise ConfigError(f"--requests: expected an integer >= 0, got {requests}")
        changes["requests"] = requests
    if out_dir is not None:
        changes["out_dir"] = out_dir
    kept = tuple(g for g in p.thresholds if g.target is None or g.target in names)
    if thresholds or len(kept) < len(p.thresholds):  # --target drops the others' gates
        extra = _known_targets(tuple(parse(e) for e in thresholds), names, "--threshold")
        changes["thresholds"] = kept + extra
    if abort_on_fail:
        changes["abort_on_fail"] = True
    return _warmup_fits(dataclasses.replace(p, **changes), "--duration")

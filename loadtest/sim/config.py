"""Simulator configuration: validated once from TOML and flags into a frozen SimConfig."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadtest.config_reader import ConfigError, Table, load_toml
from loadtest.instants import parse_instant
from loadtest.sim.behaviour import Behaviour
from loadtest.sim.capacity import Capacity
from loadtest.sim.faults import FAULT_KINDS, Faults, FaultWindow
from loadtest.sim.presets import BUILTIN, Preset, PresetTable, builtin_table
from loadtest.sim.ratelimit import Limits
from loadtest.sim.timeofday import Diurnal, Incident, business_hours, zone
from loadtest.tasks import read_tasks, task_path

SIM_START_ENV = "LOADTEST_SIM_START"  # the simulated instant to start at, when none is given


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulator worker needs; picklable and passed to every worker."""

    presets: tuple[Preset, ...] = BUILTIN
    seed: int = 0
    time_warp: float = 1.0
    sim_start: datetime | None = None  # None: the simulated clock starts at the real now
    strict_models: bool = False
    api_key_env: str = ""  # when set, requests must carry the key held in this variable
    ping_interval_s: float = 10.0
    task_files: tuple[str, ...] = ()  # task files known beside the shipped ones

    def table(self) -> PresetTable:
        """The presets, indexed by name and alias."""
        return PresetTable(self.presets)


# (key, kind, keyword bounds) of the scalar Preset fields a TOML table may set.
_FIELDS: tuple[tuple[str, str, dict[str, float]], ...] = (
    ("provider", "str", {}),
    ("ttft_median_ms", "num", {"positive": True}),
    ("ttft_p95_ms", "num", {"positive": True}),
    ("prefill_ms_per_1k_tokens", "num", {"min": 0}),
    ("tokens_per_s", "num", {"positive": True}),
    ("token_jitter", "num", {"min": 0, "max": 2}),
    ("output_median_tokens", "int", {"min": 1}),
    ("output_sigma", "num", {"min": 0, "max": 3}),
    ("max_output_tokens", "int", {"min": 1}),
    ("reasoning_tokens", "int", {"min": 0}),
    ("thinking_tokens", "int", {"min": 1}),
    ("tool_call_rate", "num", {"min": 0, "max": 1}),
    ("first_byte_fraction", "num", {"min": 0, "max": 1}),
    ("tokens_per_event", "int", {"min": 1}),
    ("prompt_token_scale", "num", {"positive": True}),
)


# (key, kind, bounds) of the [models.NAME.agent] table: loadtest.sim.behaviour.Behaviour.
_AGENT_FIELDS: tuple[tuple[str, str, dict[str, float]], ...] = (
    ("tool_accuracy", "num", {"min": 0, "max": 1}),
    ("overlap_accuracy", "num", {"min": 0, "max": 1}),
    ("invalid_json", "num", {"min": 0, "max": 1}),
    ("schema_violation", "num", {"min": 0, "max": 1}),
    ("nested_violation", "num", {"min": 0, "max": 1}),
    ("wrong_arguments", "num", {"min": 0, "max": 1}),
    ("invents", "num", {"min": 0, "max": 1}),
    ("depth", "int", {"min": 1}),
    ("depth_slope", "num", {"min": 0, "max": 1}),
    ("lead_tokens", "int", {"min": 0}),
    ("final_tokens", "int", {"min": 1}),
)


def load_config(
    path: str | Path | None = None,
    *,
    seed: int | None = None,
    time_warp: float | None = None,
    sim_start: str | None = None,
) -> SimConfig:
    """Build the config from an optional TOML file, then flags on top. Raises ConfigError."""
    cfg = SimConfig()
    if path is not None:
        cfg = _from_table(load_toml(path))
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    if time_warp is not None:
        if time_warp <= 0:
            raise ConfigError(f"--time-warp: expected a number > 0, got {time_warp:g}")
        cfg = dataclasses.replace(cfg, time_warp=time_warp)
    where = "--sim-start"
    if sim_start is None and cfg.sim_start is None and os.environ.get(SIM_START_ENV):
        # Pins a simulator's clock, for runs that must not depend on the hour they run
        # at (the presets slow down in US business hours): the test suite sets it.
        sim_start, where = os.environ[SIM_START_ENV], SIM_START_ENV
    if sim_start is not None:
        try:
            cfg = dataclasses.replace(cfg, sim_start=parse_instant(sim_start))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return cfg


def _from_table(root: Table) -> SimConfig:
    seed = root.integer("seed", 0)
    strict = root.boolean("strict_models", False)
    key_env = root.string("api_key_env", "")
    ping = root.number("ping_interval_s", 10.0, positive=True)
    warp, start = 1.0, None
    clock = root.table("clock")
    if clock is not None:
        warp = clock.number("time_warp", 1.0, positive=True)
        if clock.has("sim_start"):
            start = _instant(clock, "sim_start")
        clock.finish()
    presets = _presets(root.table("models"))
    files = _task_files(root)
    root.finish()
    return SimConfig(presets, seed, warp, start, strict, key_env, ping, files)


def _task_files(root: Table) -> tuple[str, ...]:
    """The config's own task files (a shipped name, or a path from the config's folder),
    read once here so that a mistake in one stops the start with its file and line."""
    base = Path(root.file).resolve().parent
    out = []
    for spec in root.strings("tasks", ()):
        path = task_path(spec, base)
        read_tasks(path)
        out.append(str(path))
    return tuple(out)


def _presets(models: Table | None) -> tuple[Preset, ...]:
    if models is None:
        return BUILTIN
    known = builtin_table()
    everyone = models.table("*")
    out: dict[str, Preset] = {p.name: p for p in BUILTIN}
    if everyone is not None:
        for name, p in out.items():
            # The same table applies to every preset; each gets a fresh reader of it.
            each = Table(everyone.data, everyone.file, everyone.path)
            out[name] = _apply(p, each)
            each.finish()
    for name in models:
        if name == "*":
            continue
        t = models.table(name)
        assert t is not None
        base_name = t.string("base", name if known.lookup(name) else "default")
        base = out.get(base_name) or known.lookup(base_name)
        if base is None:
            raise t.error("base", "the name of a built-in preset", base_name)
        p = _apply(dataclasses.replace(base, name=name, aliases=()), t)
        if base.name == name:
            p = dataclasses.replace(p, aliases=base.aliases)
        p = dataclasses.replace(p, aliases=t.strings("aliases", p.aliases))
        t.finish()
        out[name] = p
    models.finish()
    return tuple(out.values())


def _apply(p: Preset, t: Table) -> Preset:
    changes: dict[str, object] = {}
    for key, kind, bounds in _FIELDS:
        if not t.has(key):
            continue
        if kind == "num":
            changes[key] = t.number(key, 0.0, **bounds)  # type: ignore[arg-type]
        elif kind == "int":
            changes[key] = t.integer(key, 0, min=int(bounds.get("min", 0)))
        else:
            changes[key] = t.string(key, "")
    p = dataclasses.replace(p, **changes)  # type: ignore[arg-type]
    if p.ttft_p95_ms <= p.ttft_median_ms:
        raise t.error(
            "ttft_p95_ms", f"a value above ttft_median_ms ({p.ttft_median_ms:g})", p.ttft_p95_ms
        )
    if (d := t.table("diurnal")) is not None:
        p = dataclasses.replace(p, diurnal=_diurnal(d, p.diurnal))
    if t.has("incidents"):
        p = dataclasses.replace(p, incidents=tuple(_incident(i) for i in t.tables("incidents")))
    if (c := t.table("capacity")) is not None:
        p = dataclasses.replace(p, capacity=_capacity(c))
    if (lim := t.table("limits")) is not None:
        p = dataclasses.replace(
            p,
            limits=Limits(
                lim.integer("rpm", p.limits.rpm, min=0), lim.integer("tpm", p.limits.tpm, min=0)
            ),
        )
        lim.finish()
    if (f := t.table("faults")) is not None:
        p = dataclasses.replace(p, faults=_faults(f, p.faults))
    if (a := t.table("agent")) is not None:
        p = dataclasses.replace(p, agent=_agent(a, p.agent))
    return p


def _agent(t: Table, current: Behaviour | None) -> Behaviour | None:
    """A preset's agent behaviour: CURRENT (or a model that never slips) with T's keys."""
    if not t.boolean("enabled", True):
        t.finish()
        return None
    changes: dict[str, object] = {}
    for key, kind, bounds in _AGENT_FIELDS:
        if not t.has(key):
            continue
        if kind == "num":
            changes[key] = t.number(key, 0.0, **bounds)  # type: ignore[arg-type]
        else:
            changes[key] = t.integer(key, 0, min=int(bounds["min"]))
    t.finish()
    return dataclasses.replace(current or Behaviour(), **changes)  # type: ignore[arg-type]


def _diurnal(t: Table, current: Diurnal | None) -> Diurnal | None:
    if not t.boolean("enabled", True):
        t.finish()
        return None
    d = current or Diurnal()
    tz = t.string("tz", d.tz)
    try:
        zone(tz)
    except ValueError:
        raise t.error("tz", "an IANA time zone name such as America/New_York", tz) from None
    days = d.days
    if t.has("days"):
        raw = t.raw("days")
        if not isinstance(raw, list) or not all(isinstance(x, int) and 0 <= x <= 6 for x in raw):
            raise t.error("days", "an array of weekdays 0-6 (Monday=0)", raw)
        days = tuple(raw)
    arrays = {}
    hours = (9, 17)
    if t.has("peak_hours"):
        raw = t.raw("peak_hours")
        if (
            not isinstance(raw, list)
            or len(raw) != 2
            or not all(isinstance(x, int) and 0 <= x <= 24 for x in raw)
            or raw[0] >= raw[1]
        ):
            raise t.error("peak_hours", "[start, end] hours with 0 <= start < end <= 24", raw)
        hours = (raw[0], raw[1])
    for name in ("ttft", "tail", "speed"):
        if t.has(f"peak_{name}") and t.has(name):
            raise t.error(f"peak_{name}", f"either peak_{name} or {name}, not both")
        if t.has(f"peak_{name}"):
            peak = t.number(f"peak_{name}", 1.0, positive=True)
            arrays[name] = business_hours(peak, *hours)
        else:
            arrays[name] = t.numbers(name, getattr(d, name), length=24, min=0.01)
    t.finish()
    return Diurnal(tz, days, arrays["ttft"], arrays["tail"], arrays["speed"])


def _instant(t: Table, key: str) -> datetime:
    """T's KEY as an instant: an ISO 8601 string or TOML's own date-time (naive: UTC)."""
    raw = t.raw(key) if t.has(key) else None
    at: datetime | None = None
    if isinstance(raw, datetime):
        at = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
    elif isinstance(raw, str):
        with contextlib.suppress(ValueError):
            at = parse_instant(raw)
    if at is None:
        raise t.error(key, "an ISO 8601 instant such as 2026-11-20T14:00:00-05:00", raw)
    return at


def _incident(t: Table) -> Incident:
    """One [[models.NAME.incidents]] table: start (an ISO instant with its offset, in the
    simulator's time), duration, and multipliers as the diurnal table's."""
    start = _instant(t, "start")
    length = t.duration("duration", 3600.0)
    i = Incident(
        start,
        start + timedelta(seconds=length),
        t.number("ttft", 1.0, positive=True),
        t.number("tail", 1.0, positive=True),
        t.number("speed", 1.0, positive=True),
    )
    t.finish()
    return i


def _capacity(t: Table) -> Capacity | None:
    if not t.boolean("enabled", True):
        t.finish()
        return None
    c = Capacity(t.integer("max_streams", 64, min=1), t.number("slowdown", 0.01, min=0))
    t.finish()
    return c


def _faults(t: Table, current: Faults) -> Faults:
    rates = {k: t.number(k, current.rate(k), min=0, max=1) for k in FAULT_KINDS}
    if sum(rates.values()) > 1:
        raise t.error(None, "fault rates that add up to at most 1", sum(rates.values()))
    stall_s = t.number("stall_s", current.stall_s, positive=True)
    windows = list(current.windows)
    for w in t.tables("windows"):
        kind = w.string("kind", "", choices=FAULT_KINDS)
        if not kind:
            raise w.error("kind", "one of " + ", ".join(FAULT_KINDS))
        windows.append(
            FaultWindow(
                kind,
                w.number("start_s", 0.0, min=0),
                w.number("duration_s", 1.0, positive=True),
                w.number("rate", 1.0, min=0, max=1),
                w.number("stall_s", 0.0, positive=True) if w.has("stall_s") else None,
            )
        )
        w.finish()
    t.finish()
    return Faults(**rates, stall_s=stall_s, windows=tuple(windows))

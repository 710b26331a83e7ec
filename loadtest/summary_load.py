"""What load a run applied, as summary.json states it and every report shows at its
top: per target the mode, level, arrivals and steps; for the run the warm-up, the token
lengths, the timeouts and the client that sent it (pure)."""

from __future__ import annotations

from pathlib import Path

from loadtest.loadspec import Load
from loadtest.profile import Profile
from loadtest.prompt_length import ESTIMATE
from loadtest.prompt_length import Lengths as PromptLengths
from loadtest.records import TargetCounts
from loadtest.schema import Applied, LoadInfo, PromptTokens
from loadtest.workload_spec import Lengths, Workload

# The one client loadtest runs send with: its own aiohttp transport and SSE parser (the
# official SDKs are clients of the simulator in tests, not of runs).
CLIENT = "loadtest (aiohttp, raw HTTP + its SSE parser)"


def client_text(p: Profile) -> str:
    """Which client sent the requests: loadtest's own, and the SDKs for targets in SDK mode."""
    sdk = [t.name for t in p.targets if t.client == "sdk"]
    if not sdk:
        return CLIENT
    if len(sdk) == len(p.targets):
        return "the official SDKs (openai, anthropic), streaming"
    return f"{CLIENT}; the official SDK for {', '.join(sdk)}"


def load_info(load: Load, duration_s: float) -> LoadInfo:
    """LOAD as the summary states it."""
    info: LoadInfo = {
        "mode": load.mode,
        "concurrency": load.concurrency,
        "rate": load.rate if load.mode == "open" else None,
        "max_in_flight": load.max_in_flight,
    }
    if load.mode == "open":
        info["arrivals"] = load.arrivals
        if load.arrivals == "gamma":
            info["burstiness"] = load.burstiness
    if load.ramp_up_s:
        info["ramp_up_s"] = load.ramp_up_s
    if load.steps:
        info["steps"] = [
            {"duration_s": length, "level": level} for length, level in load.levels(duration_s)
        ]
    return info


def prompt_tokens(lengths: PromptLengths | None, target: str, counts: TargetCounts) -> PromptTokens:
    """How TARGET's prompts were sized (LENGTHS: the run's) against what its server's usage
    counted over its COUNTS."""
    server = (
        counts.input_tokens / counts.completed if counts.completed and counts.input_tokens else None
    )
    if lengths is None:
        return {"method": ESTIMATE, "requested_mean": None, "server_mean": _r(server)}
    t = lengths.of(target)
    out: PromptTokens = {
        "method": lengths.method_of(target),
        "requested_mean": _r(t.requested / t.prompts) if t.prompts else None,
        "server_mean": _r(server),
    }
    if t.fit is not None:
        out["chars_per_token"] = round(t.fit.chars_per_token, 3)
        out["overhead"] = round(t.fit.overhead, 2)
    return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def lengths_text(x: Lengths) -> str:
    """'256' or 'normal 1000 ± 200 in [100, 4000]'."""
    if x.distribution == "fixed":
        return f"{x.mean:g}"
    return f"{x.distribution} {x.mean:g} ± {x.stddev:g} in [{x.min}, {x.max}]"


def applied(p: Profile) -> Applied:
    """The run-wide part of what P applied."""
    w, t = p.workload, p.timeouts
    out: Applied = {
        "duration_s": p.duration_s,
        "warmup_s": p.warmup_s,
        "interval_s": p.interval_s,
        "requests": p.requests,
        "input_tokens": (
            "task file"
            if w.tasks
            else "prompts file"
            if w.prompts_file
            else lengths_text(w.input_tokens)
        ),
        "output_tokens": lengths_text(w.output_tokens),
        "ignore_eos": w.ignore_eos,
        "timeouts_s": {
            "connect": t.connect_s,
            "ttft": t.ttft_s,
            "idle": t.idle_s,
            "total": t.total_s,
        },
        "client": client_text(p),
        "processes": max(1, p.workers),
    }
    if p.slo is not None:
        out["slo"] = p.slo.text()
    texts = {t.name: _workload_text(p.workload_of(t)) for t in p.targets}
    if len(set(texts.values())) == 1:
        if w.tasks:
            out["workload"] = _workload_text(w)
    else:  # targets with workloads of their own
        out["workload"] = "; ".join(f"{name}: {text}" for name, text in texts.items())
    return out


def _workload_text(w: Workload) -> str:
    if not w.tasks:
        return "chat"
    text = f"{w.kind}, tasks of {Path(w.tasks).name}, answers judged"
    if w.kind == "agent":
        text += f", at most {w.max_steps} model calls a task"
    return text

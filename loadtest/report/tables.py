"""The numbers every report format shows, taken from summary.json (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from loadtest.records import offered_text
from loadtest.schema import LoadInfo, StatKey, StepSummary, Summary, TargetSummary, stat


@dataclass(frozen=True)
class Latency:
    """A latency metric of the run tables and the percentiles each shows of it (ms)."""

    label: str
    metric: str
    keys: tuple[StatKey, ...]  # a column each in the reports (HTML, Markdown)
    terminal: tuple[StatKey, ...]  # one column, '50/95/99', in the end-of-run table


LATENCY = (
    Latency("TTFT", "ttft", ("p50", "p95", "p99"), ("p50", "p95", "p99")),
    Latency("ITL", "itl", ("p50", "p99"), ("p50", "p99")),
    Latency("E2E", "e2e", ("p50", "p95", "p99"), ("p50", "p95")),
)
# (heading, metric, percentile key) of the reports' per-target latency columns.
LATENCY_COLUMNS = tuple((f"{c.label} {k}", c.metric, k) for c in LATENCY for k in c.keys)
COUNT_HEADINGS = ("target", "offered", "ok", "failed", "req/s", "good/s", "tok/s")
OPTIONAL = ("good/s",)  # shown only when some row has a value (goodput: with an [slo])
HEADINGS = (*COUNT_HEADINGS, *(c[0] for c in LATENCY_COLUMNS))


def _per_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def without_empty(
    headings: Sequence[str], rows: list[list[str]]
) -> tuple[list[str], list[list[str]]]:
    """HEADINGS and ROWS less each OPTIONAL column that is '-' in every row."""
    drop = {i for i, h in enumerate(headings) if h in OPTIONAL and all(r[i] == "-" for r in rows)}
    keep = [i for i in range(len(headings)) if i not in drop]
    return [headings[i] for i in keep], [[r[i] for i in keep] for r in rows]


def target_table(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """The reports' table of targets: headings and one row per target."""
    return without_empty(HEADINGS, target_rows(summary))


def steps_table(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """The reports' table of load steps: headings and a row per step of each stepped
    target (no rows when none had steps)."""
    return without_empty((*STEP_HEADINGS, *(h for h, _, _ in LATENCY_COLUMNS)), step_table(summary))


def ms(v: float | None) -> str:
    """A latency in ms as reports print it."""
    if v is None:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def count_cells(name: str, t: TargetSummary) -> list[str]:
    """A target's cells under COUNT_HEADINGS, as every run table shows them."""
    load = t.get("load")  # not in summaries stored before loadtest wrote it
    steps = None if load is None else load.get("steps")
    if load is None:
        offered = "-"
    elif steps:
        offered = f"{len(steps)} steps"
    else:
        level = load["rate"] if load["mode"] == "open" and load["rate"] else load["concurrency"]
        offered = offered_text(load["mode"], level)
    return [
        name,
        offered,
        str(t["requests"]["completed"]),
        str(t["requests"]["failed"]),
        f"{t['rates']['requests_per_s']:.2f}",
        _per_s(t["rates"].get("goodput_per_s")),
        f"{t['rates']['output_tokens_per_s']:,.0f}",
    ]


def target_rows(summary: Summary) -> list[list[str]]:
    """One row per target, in HEADINGS order."""
    return [
        [*count_cells(name, t), *(ms(stat(t, metric, key)) for _, metric, key in LATENCY_COLUMNS)]
        for name, t in summary["targets"].items()
    ]


STEP_HEADINGS = ("target", "step", "offered", "sent/s", "req/s", "good/s", "ok", "failed")


def steps_of(summary: Summary) -> list[tuple[str, TargetSummary, StepSummary]]:
    """(target name, its summary, the step) of every load step of every stepped target."""
    return [(name, t, st) for name, t in summary["targets"].items() for st in t.get("steps", [])]


def step_cells(name: str, t: TargetSummary, st: StepSummary) -> list[str]:
    """A step's cells under STEP_HEADINGS."""
    rates = st["rates"]
    return [
        name,
        str(st["step"]),
        offered_text(t["load"]["mode"], st["level"]),
        f"{rates.get('sent_per_s', 0.0):.2f}",
        f"{rates['requests_per_s']:.2f}",
        _per_s(rates.get("goodput_per_s")),
        str(st["requests"]["completed"]),
        str(st["requests"]["recorded"] - st["requests"]["completed"]),
    ]


def step_table(summary: Summary) -> list[list[str]]:
    """One row per load step of each stepped target, under STEP_HEADINGS and then the
    latency columns of LATENCY_COLUMNS; empty when no target had steps."""
    return [
        [*step_cells(name, t, st), *(ms(st["metrics"][m].get(k)) for _, m, k in LATENCY_COLUMNS)]
        for name, t, st in steps_of(summary)
    ]


def load_text(info: LoadInfo) -> str:
    """'closed loop, 4 streams' or 'open loop, 20 req/s, poisson arrivals, ramp-up 10 s';
    a stepped load lists its steps ('steps of 30 s: 1, 8, 32 streams')."""
    open_loop = info["mode"] == "open"
    unit = "req/s" if open_loop else "streams"
    steps = info.get("steps")
    if steps:
        lengths = {st["duration_s"] for st in steps}
        levels = ", ".join(f"{st['level']:g}" for st in steps)
        if len(lengths) == 1:
            level = f"steps of {lengths.pop():g} s: {levels} {unit}"
        else:
            each = ", ".join(f"{st['level']:g} for {st['duration_s']:g} s" for st in steps)
            level = f"steps ({unit}): {each}"
    else:
        level = f"{info['rate'] if open_loop else info['concurrency']:g} {unit}"
    parts = [f"{info['mode']} loop", level]
    if open_loop:
        parts.append(f"{info.get('arrivals', 'constant')} arrivals")
        if "burstiness" in info:
            parts.append(f"burstiness {info['burstiness']:g}")
        if "max_in_flight" in info:
            parts.append(f"at most {info['max_in_flight']:,} in flight")
    if info.get("ramp_up_s"):
        parts.append(f"ramp-up {info.get('ramp_up_s', 0):g} s")
    return ", ".join(parts)


def usd(v: float | None) -> str:
    """$0.195, $0.000195, $12.40; '-' for None."""
    if v is None:
        return "-"
    if v >= 1 or v == 0:
        return f"${v:,.2f}"
    return f"${v:.{2 - math.floor(math.log10(v))}f}"  # three significant digits, no 1e-05


def outcome_lines(summary: Summary) -> list[str]:
    """What came of the requests beyond their latency: success, tasks, retries, cost."""
    return [
        *quality_lines(summary),
        *task_lines(summary),
        *retry_lines(summary),
        *cost_lines(summary),
    ]


def quality_lines(summary: Summary) -> list[str]:
    """A line per judged target: its success rate, the 95% interval, the failure classes."""
    out = []
    for name, t in summary["targets"].items():
        q = t.get("quality")
        if q is None:
            continue
        lo, hi = q["interval95"]
        fails = [f"{k} {n}" for k, n in q["outcomes"].items() if n]
        timing = ""
        first, whole = t["metrics"].get("ttfa"), t["metrics"].get("tool_call")
        if first and whole and first.get("count"):
            a, b = (ms(first.get("p50")), ms(first.get("p95")))
            c, d = (ms(whole.get("p50")), ms(whole.get("p95")))
            timing = f"; first tool-call argument p50/p95 {a}/{b} ms, complete call {c}/{d} ms"
        out.append(
            f"Answers of {name} that did the task: {q['success_rate']:.1%} of {q['judged']} "
            f"judged (95% interval {lo:.1%} to {hi:.1%}); "
            + (", ".join(fails) if fails else "no failure")
            + timing
        )
    return out


def task_lines(summary: Summary) -> list[str]:
    """A line per agent target: where a task's time, calls, tokens and money went."""
    out = []
    for name, t in summary["targets"].items():
        a = t.get("tasks")
        if a is None:
            continue
        lat = a["latency_ms"]
        cost = f" and {usd(a['cost'])}" if "cost" in a else ""
        out.append(
            f"Tasks of {name}: p50/p95 {ms(lat.get('p50'))}/{ms(lat.get('p95'))} ms wall clock, "
            f"{a['model_share']:.0%} of it waiting on the model and {a['tool_share']:.0%} on "
            f"tools; {a['model_calls']:.1f} model calls, {a['tokens']:,.0f} tokens{cost} a task"
        )
    return out


def retry_lines(summary: Summary) -> list[str]:
    """A line per target with a retry policy: attempts, and who served its requests."""
    out = []
    for name, t in summary["targets"].items():
        r = t.get("retries")
        if r is None:
            continue
        each = f"{r['per_request']:.2f}" if r["per_request"] is not None else "-"
        per_ok = f"{r['per_success']:.2f}" if r["per_success"] is not None else "-"
        served = ", ".join(f"{k} {n:,}" for k, n in r["served_by"].items()) or "none"
        first = r.get("first_attempt_success_rate")
        at_first = f"{first:.1%} done at the first attempt; " if first is not None else ""
        out.append(
            f"Retries of {name}: {at_first}{each} attempts a request, {per_ok} a success; "
            f"served by {served} ({r['fallback_share']:.1%} by a fallback)"
        )
    return out


def cost_lines(summary: Summary) -> list[str]:
    """A line per target with a price: what 1,000 calls and a successful one cost."""
    out = []
    for name, t in summary["targets"].items():
        c = t.get("cost")
        if c is None:
            continue
        within = ""
        if "per_success_within_slo" in c:
            within = f", {usd(c['per_success_within_slo'])} per success within the SLO"
        unit = "tasks" if "tasks" in t else "calls"  # an agent task is one request
        extra = ""
        if "cached_input_tokens" in c:
            extra += f"; {c['cached_input_tokens']:,} input tokens read from the prompt cache"
        if "batch_per_1k_calls" in c:
            extra += f"; {usd(c['batch_per_1k_calls'])} per 1,000 through the batch API"
        out.append(
            f"Cost of {name}: {usd(c['per_1k_calls'])} per 1,000 {unit}, "
            f"{usd(c['per_success'])} per success{within}, {usd(c['usd'])} in all "
            f"(${c['input_price']:g} / ${c['output_price']:g} per million tokens in / out: "
            f"{c['source'] or 'no source'}){extra}"
        )
    return out


def prompt_line(summary: Summary) -> str:
    """'Prompt tokens asked / counted by the server: a 200 / 201 (calibrated), b 200 / -
    (chars/4)'; '' for summaries written before loadtest said."""
    parts = []
    for name, t in summary["targets"].items():
        pt = t.get("prompt_tokens")
        if pt is None:
            continue
        asked, got = pt["requested_mean"], pt["server_mean"]
        how = pt["method"]
        if "chars_per_token" in pt:
            how += f", {pt['chars_per_token']:.2f} chars a token"
        parts.append(
            f"{name} {'-' if asked is None else f'{asked:,.0f}'} / "
            f"{'-' if got is None else f'{got:,.0f}'} ({how})"
        )
    return "Prompt tokens asked / counted by the server: " + ", ".join(parts) if parts else ""


def load_lines(summary: Summary) -> list[str]:
    """What the run applied, for the top of every report: the load of each target
    (targets under the same load share a line), then the run's lengths, timeouts and
    client. Empty for summaries written before loadtest stated it."""
    by_text: dict[str, list[str]] = {}
    for name, t in summary["targets"].items():
        if "load" in t:  # not in summaries stored before loadtest wrote it
            by_text.setdefault(load_text(t["load"]), []).append(name)
    lines = [f"Load: {', '.join(names)}: {text}" for text, names in by_text.items()]
    a = summary.get("applied")
    if a is None:
        return lines
    limit = f", at most {a['requests']:,} requests a target" if a["requests"] else ""
    eos = " (ignore_eos)" if a["ignore_eos"] else ""
    timeouts = ", ".join(f"{k} {v:g} s" for k, v in a["timeouts_s"].items())
    given = a["input_tokens"]
    inputs = f"input from the {given}" if given.endswith("file") else f"input {given} tokens"
    lines.append(
        f"Run: {a['duration_s']:g} s{limit}, warm-up {a['warmup_s']:g} s, intervals of "
        f"{a['interval_s']:g} s; {inputs}, output "
        f"{a['output_tokens']} tokens{eos}; timeouts {timeouts}"
    )
    if "workload" in a:
        lines.append(f"Workload: {a['workload']}")
    n = a["processes"]
    lines.append(f"Client: {a['client']}, {n} process{'es' if n != 1 else ''}")
    if prompts := prompt_line(summary):
        lines.append(prompts)
    return lines


def error_text(t: TargetSummary) -> str:
    """'class n, class n' of a target's errors; '' when it has none."""
    return ", ".join(f"{k} {v}" for k, v in t["errors"].items())


MESSAGE_HEADINGS = ("target", "error", "count", "what the server said")


def message_rows(summary: Summary) -> list[list[str]]:
    """The most frequent error messages of each target and class, under MESSAGE_HEADINGS."""
    return [
        [name, m["error"], str(m["count"]), m["message"]]
        for name, t in summary["targets"].items()
        for m in t.get("messages", [])
    ]


def error_lines(summary: Summary) -> list[str]:
    """'target: class n, class n' for each target with errors."""
    out = []
    for name, t in summary["targets"].items():
        if t["errors"]:
            out.append(f"{name}: {error_text(t)}")
    return out


def token_notes(summary: Summary) -> list[str]:
    """What a reader must know of a target's tokens: completions whose tokens loadtest
    counted (no usage from the server), completions with no output token, and for a
    reasoning model the time to its first output token beside TTFT's first thinking one."""
    out = []
    for name, t in summary["targets"].items():
        tok, done = t["tokens"], t["requests"]["completed"]
        if n := tok["requests_with_counted_tokens"]:
            out.append(
                f"{name}: {n} of {done} completions had no usage from the server; their "
                "output tokens were counted by loadtest (one per content event), so TPOT, "
                "speed and tok/s are estimates"
            )
        if n := tok.get("requests_with_zero_output", 0):
            out.append(f"{name}: {n} of {done} completions had no output token at all")
        if n := tok.get("requests_with_reasoning", 0):
            ttfo = "/".join(ms(stat(t, "ttfo", k)) for k in ("p50", "p95", "p99"))
            out.append(
                f"{name}: {n} of {done} completions reasoned first; time to the first "
                f"output token (ttfo) p50/p95/p99 {ttfo} ms, where TTFT counts the first "
                "thinking token"
            )
    return out


def accounting_text(t: TargetSummary) -> str:
    """Where a target's requests went, when some were cut off, never sent or late:
    'sent 12 = 8 completed + 4 abandoned; never sent: 30 unsent; 9 late'; '' otherwise
    (a warm-up alone is no news)."""
    req = t["requests"]
    warmup, unsent = req.get("warmup", 0), req.get("unsent", 0)
    if not (req["abandoned"] or req["shed"] or unsent or req["late"]):
        return ""
    parts = [
        f"{n} {what}"
        for n, what in (
            (warmup, "warm-up"),
            (req["completed"], "completed"),
            (req["failed"], "failed"),
            (req["abandoned"], "abandoned"),
        )
        if n or what == "completed"
    ]
    text = f"sent {req['sent']} = " + " + ".join(parts)
    never = [f"{n} {what}" for n, what in ((req["shed"], "shed"), (unsent, "unsent")) if n]
    if never:
        text += "; never sent: " + ", ".join(never)
    if req["late"]:
        text += f"; {req['late']} late"
    return text


def accounting_lines(summary: Summary) -> list[str]:
    """'target: sent ... = ...' for each target with more than completions and failures."""
    return [
        f"{name}: {text}" for name, t in summary["targets"].items() if (text := accounting_text(t))
    ]


def run_line(summary: Summary) -> str:
    """Start, length, warm-up and why the run stopped."""
    r = summary["run"]
    return (
        f"{r['start_utc']} to {r['end_utc']}, {r['duration_s']:.0f} s "
        f"(warm-up {r['warmup_s']:g} s), stopped by {r['stopped_by']}"
    )


def threshold_rows(summary: Summary) -> list[list[str]]:
    """expression, target, value seen, verdict: one row per judged threshold."""
    rows = []
    for g in summary.get("thresholds", []):
        value = "-" if g["value"] is None else f"{g['value']:,.4g}"
        verdict = "pass" if g["ok"] else "FAIL" + (f" ({g['note']})" if g.get("note") else "")
        rows.append([g["expr"], g["target"], value, verdict])
    return rows


THRESHOLD_HEADINGS = ("threshold", "target", "value", "result")

"""SLO gates: k6-style threshold expressions, parsed once and judged against a summary.

    ttft.p95 < 800ms                    every target's TTFT P95
    e2e.p99{target=claude-3-5-haiku} < 5s
    errors.rate < 1%                    failed / recorded (a bare rate: 0.01)
    errors.http_429.count <= 10         one error class
    errors.shed.count <= 0              abandoned, shed, unsent: apart from failures
    throughput.output_tokens > 500/s    also throughput.requests, throughput.goodput ([slo])
    output_speed.p50 >= 40              tokens/s
    success.rate >= 90%                 judged workloads: answers that did the task
    success.lower >= 0.85               ...the 95% interval's lower bound

Latency metrics take p50, p90, p95, p99, p99.9 (or p99_9), max or mean, with a unit
(us, ms, s; ms when none). Pure: no I/O.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeGuard

from loadtest.config_reader import ConfigError
from loadtest.errors import NOT_SERVER_FAILURES, ErrorClass
from loadtest.metrics import METRICS, OUTPUT_SPEED, OUTPUT_TOKENS
from loadtest.records import TargetCounts, TargetStatus
from loadtest.schema import StatKey, TargetSummary, ThresholdResult, stat

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
_STATS: tuple[StatKey, ...] = ("p50", "p90", "p95", "p99", "p99_9", "max", "mean")
_DURATION_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_CLASSES = tuple(c.value for c in ErrorClass)
_THROUGHPUT = {  # throughput.NAME -> its key in a target's rates
    "requests": "requests_per_s",
    "output_tokens": "output_tokens_per_s",
    "goodput": "goodput_per_s",  # only with an [slo]: no value (and a failed gate) without
}
_EXPR = re.compile(
    r"^\s*(?P<lhs>[A-Za-z0-9_.]+)\s*(?:\{\s*target\s*=\s*(?P<target>[^}]+?)\s*\})?"
    r"\s*(?P<op><=|>=|<|>)\s*(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>[A-Za-z%/]*)\s*$"
)


@dataclass(frozen=True)
class Threshold:
    """One parsed expression: what to read from a target's summary and the bound."""

    expr: str
    kind: str  # "metric", "errors", "throughput" or "success"
    name: str  # metric name, error class ("" = all), or "requests" / "output_tokens"
    stat: str  # percentile key, max, mean, rate or count
    op: str
    limit: float  # in the summary's unit: ms, tokens/s, a fraction, a count, per second
    target: str | None = None  # None: every target


def parse(expr: str, where: str = "--threshold") -> Threshold:
    """Parse EXPR; a ConfigError names WHERE and what is wrong, in one line."""
    m = _EXPR.match(expr)
    if m is None:
        raise ConfigError(
            f"{where}: expected METRIC.STAT[{{target=NAME}}] OP VALUE, such as "
            f"'ttft.p95 < 800ms', got {expr!r}"
        )
    parts = m["lhs"].split(".")
    op, value, unit = m["op"], float(m["value"]), m["unit"]
    target = m["target"]

    def bad(what: str) -> ConfigError:
        return ConfigError(f"{where}: {what} in {expr!r}")

    if parts[0] == "errors":
        if len(parts) == 2 and parts[1] in ("rate", "count"):
            name, stat = "", parts[1]
        elif len(parts) == 3 and parts[2] in ("rate", "count"):
            name, stat = parts[1], parts[2]
        else:
            raise bad("expected errors.rate, errors.count or errors.CLASS.rate / .count")
        if name and name not in _CLASSES:
            raise bad(f"unknown error class {name!r}; expected one of {', '.join(_CLASSES)}")
        if stat == "rate":
            if unit == "%":
                if value > 100:
                    raise bad(f"a rate is at most 100%, not {value:g}%")
                value /= 100
            elif unit:
                raise bad(f"a rate takes % or no unit, not {unit!r}")
            elif value >= 1:  # 'errors.rate < 1': 1%, or a fraction that always passes?
                raise bad(
                    f"a bare rate is a fraction (0.01 = 1%), so {value:g} cannot be meant; "
                    f"write {value:g}% or {value / 100:g}"
                )
        elif unit:
            raise bad(f"a count takes no unit, not {unit!r}")
        return Threshold(expr, "errors", name, stat, op, value, target)
    if parts[0] == "success":
        if len(parts) != 2 or parts[1] not in ("rate", "lower"):
            raise bad("expected success.rate or success.lower (the 95% interval's low end)")
        if unit == "%":
            value /= 100
        elif unit or value > 1:
            raise bad(
                f"a success rate is a fraction (0.9) or a percentage (90%), not {m['value']}{unit}"
            )
        return Threshold(expr, "success", "", parts[1], op, value, target)
    if parts[0] == "throughput":
        if len(parts) != 2 or parts[1] not in _THROUGHPUT:
            raise bad("expected throughput.requests, throughput.output_tokens or .goodput")
        if unit not in ("", "/s"):
            raise bad(f"throughput is per second ('/s' or no unit), not {unit!r}")
        return Threshold(expr, "throughput", parts[1], "rate", op, value, target)
    # p99.9 splits into three parts
    if len(parts) == 3 and parts[1] == "p99" and parts[2] == "9":
        parts = [parts[0], "p99_9"]
    if len(parts) != 2 or parts[0] not in METRICS:
        raise bad(f"unknown metric; expected one of {', '.join(METRICS)}, errors, throughput")
    metric, stat = parts
    if stat not in _STATS:
        raise bad(f"unknown statistic {stat!r}; expected one of {', '.join(_STATS)}")
    if metric in (OUTPUT_SPEED, OUTPUT_TOKENS):
        if unit not in ("", "/s") or (unit == "/s" and metric == OUTPUT_TOKENS):
            raise bad(f"{metric} takes no unit, not {unit!r}")
    else:
        if unit not in _DURATION_UNITS and unit != "":
            raise bad(f"a duration takes us, ms or s, not {unit!r}")
        value *= _DURATION_UNITS.get(unit or "ms", 1.0)
    return Threshold(expr, "metric", metric, stat, op, value, target)


def parse_all(exprs: Iterable[str], where: str) -> tuple[Threshold, ...]:
    """Parse each of EXPRS (WHERE[i] in errors)."""
    return tuple(parse(e, f"{where}[{i}]") for i, e in enumerate(exprs))


def _is_stat(stat: str) -> TypeGuard[StatKey]:
    return stat in _STATS


def _actual(t: Threshold, s: TargetSummary) -> float | None:
    if t.kind == "metric":
        key = t.stat
        v = stat(s, t.name, key) if _is_stat(key) else None
        return None if v is None else float(v)
    if t.kind == "success":
        q = s.get("quality")
        if q is None:
            return None
        return q["success_rate"] if t.stat == "rate" else q["interval95"][0]
    if t.kind == "throughput":
        rate: object = s["rates"].get(_THROUGHPUT[t.name])
        return float(rate) if isinstance(rate, int | float) else None
    req = s["requests"]
    if t.name in NOT_SERVER_FAILURES:  # counted apart, out of every request the run meant
        count = int(req[t.name])  # type: ignore[literal-required]
        meant = req["recorded"] + req["abandoned"] + req["shed"] + req["unsent"]
        return float(count) if t.stat == "count" else (count / meant if meant else None)
    count = s["errors"].get(t.name, 0) if t.name else req["failed"]
    if t.stat == "count":
        return float(count)
    return count / req["recorded"] if req["recorded"] else None


def evaluate(
    thresholds: Iterable[Threshold], targets: Mapping[str, TargetSummary]
) -> list[ThresholdResult]:
    """One result per threshold and target of TARGETS (summary.json's) it applies to: the
    value seen and the verdict. No data (a metric never recorded) fails: a gate that
    cannot be checked does not pass."""
    results = []
    for t in thresholds:
        names = [t.target] if t.target is not None else list(targets)
        for name in names:
            if name not in targets:
                results.append(_result(t, name, None, False, "no such target in this run"))
                continue
            value = _actual(t, targets[name])
            if value is None:
                why = (
                    "no [slo] in the profile"
                    if t.name == "goodput"
                    else "no judged answers (a chat workload?)"
                    if t.kind == "success"
                    else "no data"
                )
                results.append(_result(t, name, None, False, why))
            else:
                results.append(_result(t, name, value, _OPS[t.op](value, t.limit), ""))
    return results


def _result(t: Threshold, target: str, value: float | None, ok: bool, note: str) -> ThresholdResult:
    out: ThresholdResult = {
        "expr": t.expr,
        "target": target,
        "value": None if value is None else round(value, 6),
        "limit": t.limit,
        "ok": ok,
    }
    if note:
        out["note"] = note
    return out


def doomed(thresholds: Iterable[Threshold], failed: Mapping[str, Mapping[str, int]]) -> str | None:
    """The first threshold that can no longer pass, given each target's error counts so
    far (target -> error class -> count), or None. Only error counts bounded from above
    only grow; every other gate (rates, percentiles, throughput) may still recover, so
    it is judged at the end."""
    for t in thresholds:
        if t.kind != "errors" or t.stat != "count" or t.op not in ("<", "<="):
            continue
        for target, by_class in failed.items():
            if t.target is not None and t.target != target:
                continue
            count = (
                by_class.get(t.name, 0)
                if t.name
                else sum(n for c, n in by_class.items() if c not in NOT_SERVER_FAILURES)
            )
            if not _OPS[t.op](count, t.limit):
                return f"{t.expr} [{target}]"
    return None


def lost_gate(
    thresholds: Iterable[Threshold],
    totals: Mapping[str, TargetCounts],
    status: Mapping[str, TargetStatus],
) -> str | None:
    """doomed() on a run so far: the recorded errors (TOTALS) and the run-imposed
    outcomes, which are counted in STATUS, never recorded."""
    failed = {
        t: {**c.errors, **{k: getattr(status[t], k) for k in NOT_SERVER_FAILURES}}
        for t, c in totals.items()
    }
    return doomed(thresholds, failed)

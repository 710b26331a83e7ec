"""Write grafana-dashboard.json beside this file: a Grafana dashboard on loadtest's own
metrics (`--metrics-port`). Run it after changing a panel; the JSON is what ships.

    python scripts/monitoring/make_dashboard.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SEL = 'profile=~"$profile", target=~"$target"'
RATE = "$__rate_interval"


def _quantile(q: float, metric: str, window: str = RATE) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, target) "
        f"(rate(loadtest_{metric}_seconds_bucket{{{SEL}}}[{window}])))"
    )


# (title, unit, [(expr, legend)], panel type)
PANELS: list[tuple[str, str, list[tuple[str, str]], str]] = [
    ("TTFT p95", "s", [(_quantile(0.95, "ttft"), "{{target}}")], "timeseries"),
    ("TTFT p50", "s", [(_quantile(0.5, "ttft"), "{{target}}")], "timeseries"),
    ("E2E p95", "s", [(_quantile(0.95, "e2e"), "{{target}}")], "timeseries"),
    ("ITL p95", "s", [(_quantile(0.95, "itl"), "{{target}}")], "timeseries"),
    (
        "Requests per second",
        "reqps",
        [
            (
                f"sum by (target, outcome) (rate(loadtest_requests_total{{{SEL}}}[{RATE}]))",
                "{{target}} {{outcome}}",
            )
        ],
        "timeseries",
    ),
    (
        "Errors per second, by class",
        "reqps",
        [
            (
                f"sum by (target, error) (rate(loadtest_errors_total{{{SEL}}}[{RATE}]))",
                "{{target}} {{error}}",
            )
        ],
        "timeseries",
    ),
    (
        "Output tokens per second",
        "short",
        [
            (
                f'sum by (target) (rate(loadtest_tokens_total{{{SEL}, type="output"}}[{RATE}]))',
                "{{target}}",
            )
        ],
        "timeseries",
    ),
    (
        "Rate-limit headroom (latest headers)",
        "short",
        [(f"loadtest_rate_limit_remaining{{{SEL}}}", "{{target}} {{header}}")],
        "timeseries",
    ),
    (
        "TTFT p95 by hour, last 7 days",
        "s",
        [(_quantile(0.95, "ttft", "1h"), "{{target}}")],
        "heatmap",
    ),
    (
        "Probe runs per hour, by outcome",
        "short",
        [
            (
                "sum by (profile, outcome) "
                '(increase(loadtest_runs_total{profile=~"$profile"}[1h]))',
                "{{profile}} {{outcome}}",
            )
        ],
        "timeseries",
    ),
    (
        "Client health",
        "percent",
        [
            ("max(loadtest_client_cpu_percent)", "CPU % of one core"),
            ("max(loadtest_client_saturated) * 100", "saturated (100 = yes)"),
        ],
        "timeseries",
    ),
]


def panel(
    i: int, title: str, unit: str, targets: list[tuple[str, str]], kind: str
) -> dict[str, Any]:
    """One panel, two to a row."""
    p: dict[str, Any] = {
        "id": i + 1,
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {
            "h": 8,
            "w": 24 if kind == "heatmap" else 12,
            "x": 0 if kind == "heatmap" else 12 * (i % 2),
            "y": 8 * (i // 2),
        },
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + k), "expr": expr, "legendFormat": legend}
            for k, (expr, legend) in enumerate(targets)
        ],
    }
    if kind == "heatmap":
        # One row per target, one cell per hour: the week's peak hours stand out.
        p["timeFrom"] = "7d"
        p["interval"] = "1h"
        p["options"] = {
            "calculate": False,
            "yAxis": {"unit": unit},
            "rowsFrame": {"layout": "auto"},
            "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5},
            "cellGap": 1,
        }
    return p


def dashboard() -> dict[str, Any]:
    """The whole dashboard."""
    variables = [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
        {
            "name": "profile",
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": "label_values(loadtest_requests_total, profile)",
            "includeAll": True,
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        },
        {
            "name": "target",
            "type": "query",
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": 'label_values(loadtest_requests_total{profile=~"$profile"}, target)',
            "includeAll": True,
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
        },
    ]
    return {
        "title": "loadtest: LLM endpoint latency",
        "uid": "loadtest-llm",
        "tags": ["loadtest", "llm"],
        "timezone": "browser",
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": variables},
        "panels": [panel(i, *spec) for i, spec in enumerate(PANELS)],
    }


def main() -> None:
    out = Path(__file__).with_name("grafana-dashboard.json")
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(out)


if __name__ == "__main__":
    main()

"""The shape of the package, as docs/architecture.md draws it: imports only go down the
layers, the simulator is a wing of its own, and no module grows past 450 lines.

Read from the source with `ast` (every import, also those inside functions), so a
lazy import that climbs a layer is caught as well as a module-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "loadtest"
MAX_LINES = 450

# Bottom to top; a module may import from its own layer or any below. Keep in step
# with docs/architecture.md.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "definitions",
        (
            "errors",
            "schema",
            "tally",
            "records",
            "metrics",
            "sse",
            "paths",
            "config_reader",
            "instants",
            "loop",
            "arrivals",
            "hlog",
            "backoff",
            "redact",
            "coarse",
            "hdr_codec",
            "summary_stats",
            "messages",
            "toolsets",
            "validators",
            "tasks",
            "server_metrics",
            "lifeline",
            "peak",
        ),
    ),
    (
        "configuration",
        (
            "thresholds",
            "schedule",
            "providers",
            "loadspec",
            "profile",
            "workload_spec",
            "workload",
            "quick_profile",
            "starter",
            "slo",
            "prompt_length",
            "pricing",
            "judging",
            "retry_policy",
            "share",
        ),
    ),
    (
        "measurement",
        (
            "agent_loop",
            "retrying",
            "body_reader",
            "sdk_client",
            "transport",
            "capacity",
            "spend",
            "pool",
            "shard_io",
            "preflight",
            "recorder",
            "sinks",
            "selfcheck",
            "engine",
            "merge",
            "worker",
            "workers",
            "worker_process",
            "ray_cluster",
            "summary",
            "summary_quality",
            "step_summary",
            "summary_load",
            "server_scrape",
            "scrape_child",
            "server_summary",
            "prom_export",
            "otel_export",
        ),
    ),
    (
        "history",
        (
            "store",
            "rebuild",
            "probes",
            "timeofday",
            "check",
            "alerting",
            "clocks",
            "scheduler",
        ),
    ),
    ("presentation", ("headroom", "dashboard", "live", "report")),
    ("application", ("runner", "ready", "cli", "__main__", "__init__")),
)
SIM = "sim"  # the simulator's wing: it may use the definitions layer and itself only


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        out[".".join(parts)] = path
    return out


def _layer(module: str) -> int:
    """The layer of a module path inside the package ('providers.build' -> 1)."""
    head = module.split(".")[0]
    if head == SIM:
        return -1
    for i, (_, names) in enumerate(LAYERS):
        if head in names or module in names:
            return i
    raise AssertionError(f"loadtest.{module} is in no layer: add it to docs/architecture.md")


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "loadtest":
                found |= {a.name for a in node.names}
            elif node.module.startswith("loadtest."):
                found.add(node.module.removeprefix("loadtest."))
        elif isinstance(node, ast.Import):
            found |= {
                a.name.removeprefix("loadtest.")
                for a in node.names
                if a.name.startswith("loadtest.")
            }
    return found


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


@pytest.mark.parametrize("module", sorted(_modules()))
def test_imports_only_go_down(module: str) -> None:
    here = _layer(module)
    for imported in _imports(_modules()[module]):
        if imported == "__version__":
            continue
        there = _layer(imported)
        if here == -1:  # the simulator: its own wing and the definitions only
            assert there in (-1, 0), f"loadtest.{module} imports loadtest.{imported}"
        elif there == -1:
            assert LAYERS[here][0] == "application", (
                f"loadtest.{module} imports the simulator (loadtest.{imported}); only the "
                "application layer starts it"
            )
        else:
            assert there <= here, (
                f"loadtest.{module} ({LAYERS[here][0]}) imports loadtest.{imported} "
                f"({LAYERS[there][0]}), a higher layer"
            )


def test_no_module_is_over_the_line_limit() -> None:
    long = {
        m: n
        for m, p in _modules().items()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split these by concept: {long}"

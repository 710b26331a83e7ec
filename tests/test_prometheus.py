"""loadtest's own metrics for Prometheus: the endpoint `run --metrics-port` serves, and a
real Prometheus server (Debian's `prometheus`, started here on 127.0.0.1, scraping every
second) whose HTTP API then agrees with summary.json."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from loadtest.profile import load_profile
from loadtest.prom_export import Exporter, listen_spec
from loadtest.runner import run

CLI = (sys.executable, "-m", "loadtest", "run")
FIXED = """
[models.fixed]
ttft_median_ms = 120
ttft_p95_ms = 120.12
prefill_ms_per_1k_tokens = 0
tokens_per_s = 100
token_jitter = 0
"""


def _profile(tmp: Path, duration: str = "6s") -> Path:
    cfg = tmp / "sim.toml"
    cfg.write_text(FIXED)
    path = tmp / "p.toml"
    path.write_text(
        f"""
name = "promtest"
out = "{tmp / "reports"}"
duration = "{duration}"
interval = "1s"
[load]
concurrency = 3
[workload]
input_tokens = 20
output_tokens = 10
ignore_eos = true
[[targets]]
name = "fixed"
kind = "openai"
model = "fixed"
base_url = "sim"
[simulator]
seed = 1
config = "{cfg}"
"""
    )
    return path


MONITORING = Path(__file__).parent.parent / "scripts" / "monitoring"


def _dashboard_exprs() -> list[str]:
    """The dashboard's PromQL, its variables given values as Grafana would."""
    board = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return [
        e.replace("$__rate_interval", "5s").replace("$profile", "promtest").replace("$target", ".*")
        for e in exprs
    ]


def _rule_exprs() -> list[str]:
    text = (MONITORING / "alerts.yml").read_text()
    out: list[str] = []
    inside = False
    for line in text.splitlines():  # the rules' `expr: |` blocks and one-line exprs
        stripped = line.strip()
        if stripped.startswith("expr:"):
            rest = stripped[len("expr:") :].strip()
            inside = rest == "|"
            out.append("" if inside else rest)
        elif inside and line.startswith(" " * 10):
            out[-1] += " " + stripped
        else:
            inside = False
    return [e.strip() for e in out]


def test_the_shipped_dashboard_is_what_its_script_makes_and_the_rules_check() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_dashboard", MONITORING / "make_dashboard.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    board = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert board == module.dashboard()  # regenerate with the script after a change
    assert any(p["type"] == "heatmap" for p in board["panels"])
    assert len(_rule_exprs()) == 6 and all(e.count("(") == e.count(")") for e in _rule_exprs())
    if shutil.which("promtool") is None:
        pytest.skip("promtool (Debian's prometheus package) is absent")
    out = subprocess.run(
        ["promtool", "check", "rules", str(MONITORING / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "SUCCESS: 6 rules found" in out.stdout + out.stderr, out


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def test_listen_specs() -> None:
    assert listen_spec("9400") == ("127.0.0.1", 9400)
    assert listen_spec("0.0.0.0:9400") == ("0.0.0.0", 9400)
    assert listen_spec("[::1]:0") == ("::1", 0)
    for bad in ("", "x", "127.0.0.1:", "70000", "host:port"):
        with pytest.raises(ValueError, match="expected PORT or HOST:PORT"):
            listen_spec(bad)


@pytest.mark.slow
def test_run_serves_its_metrics_while_it_runs(tmp_path: Path) -> None:
    path = _profile(tmp_path, "8s")
    probe = Exporter()  # a free port, given back before the run takes it
    port = probe.serve("127.0.0.1", 0)
    probe.close()
    proc = subprocess.Popen(
        [*CLI, str(path), "--no-live", "--no-preflight", "--metrics-port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                text = _get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                continue
            if 'loadtest_requests_total{kind="openai",model="fixed"' in text and (
                'outcome="completed",profile="promtest",target="fixed"} 0.0' not in text
            ):
                break
        families = {f.name: f for f in text_string_to_metric_families(text)}
        done = [
            s.value
            for s in families["loadtest_requests"].samples
            if s.labels["outcome"] == "completed"
        ]
        assert done and done[0] > 0
        assert "loadtest_ttft_seconds" in families and "loadtest_client_cpu_percent" in families
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"loadtest: metrics at http://127.0.0.1:{port}/metrics" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A port in use is a one-line error before any load.
    holder = Exporter()
    taken = holder.serve("127.0.0.1", 0)
    try:
        out = subprocess.run(
            [*CLI, str(path), "--metrics-port", str(taken)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"loadtest: error: --metrics-port: cannot listen on 127.0.0.1:{taken} "
        "(Address already in use)"
    ]


@pytest.fixture
def exporter() -> Iterator[tuple[Exporter, int]]:
    e = Exporter()
    port = e.serve("127.0.0.1", 0)
    try:
        yield e, port
    finally:
        e.close()


def _query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    data = json.loads(_get(url))
    assert data["status"] == "success", data
    return list(data["data"]["result"])


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian's prometheus is absent")
def test_a_real_prometheus_scrapes_a_run_and_agrees_with_its_summary(
    tmp_path: Path, exporter: tuple[Exporter, int]
) -> None:
    e, port = exporter
    probe = Exporter()
    prom_port = probe.serve("127.0.0.1", 0)
    probe.close()
    (tmp_path / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: loadtest\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"
    )
    prom = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{prom_port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if "Ready" in _get(f"{base}/-/ready"):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        _, summary = run(
            load_profile(_profile(tmp_path)), Console(quiet=True), False, True, exporter=e
        )
        t = summary["targets"]["fixed"]
        completed = t["requests"]["completed"]
        assert completed > 10
        # The endpoint stays up after the run: wait for a scrape of its last interval.
        sel = 'target="fixed",profile="promtest"'
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = _query(base, f'loadtest_requests_total{{{sel},outcome="completed"}}')
            if got and float(got[0]["value"][1]) == completed:
                break
            time.sleep(0.5)
        assert got and float(got[0]["value"][1]) == completed, got
        [count] = _query(base, f"loadtest_ttft_seconds_count{{{sel}}}")
        assert float(count["value"][1]) == t["metrics"]["ttft"]["count"]
        [total] = _query(base, f"loadtest_ttft_seconds_sum{{{sel}}}")
        mean_ms = float(total["value"][1]) / float(count["value"][1]) * 1000
        assert mean_ms == pytest.approx(t["metrics"]["ttft"]["mean"], rel=0.002)
        # Prometheus's own quantile over our buckets lands in the bucket of the summary's.
        [p50] = _query(base, f"histogram_quantile(0.5, loadtest_ttft_seconds_bucket{{{sel}}})")
        assert 0.1 <= float(p50["value"][1]) <= 0.15 and 120 <= t["metrics"]["ttft"]["p50"] <= 150
        [itl] = _query(base, f"loadtest_itl_seconds_count{{{sel}}}")
        assert float(itl["value"][1]) == t["metrics"]["itl"]["count"]
        [runs] = _query(base, 'loadtest_runs_total{profile="promtest"}')
        assert runs["metric"]["outcome"] == "ok" and float(runs["value"][1]) == 1
        # Every expression the shipped dashboard and alert rules use runs on it.
        for expr in _dashboard_exprs() + _rule_exprs():
            _query(base, expr)
        [p95] = _query(base, _dashboard_exprs()[0])  # the dashboard's first: TTFT p95
        assert p95["metric"]["target"] == "fixed" and 0.1 <= float(p95["value"][1]) <= 0.15
    finally:
        prom.terminate()
        prom.wait(10)

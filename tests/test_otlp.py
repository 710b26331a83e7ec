"""loadtest's own metrics over OTLP/HTTP (`--otlp`), for real: a run pushes to a small
OTLP receiver on 127.0.0.1 that decodes each request with OpenTelemetry's own protobuf
classes, and what it got agrees with summary.json. Skipped without `loadtest[otel]`."""

from __future__ import annotations

import http.server
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from local_http import serving

pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from loadtest.cli import main

FIXED = """
[models.fixed]
ttft_median_ms = 80
ttft_p95_ms = 80.08
prefill_ms_per_1k_tokens = 0
tokens_per_s = 200
token_jitter = 0
"""


class Receiver(http.server.BaseHTTPRequestHandler):
    """An OTLP/HTTP metrics endpoint: each POST decoded and kept."""

    got: ClassVar[list[ExportMetricsServiceRequest]] = []
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        req = ExportMetricsServiceRequest()
        req.ParseFromString(body)
        self.got.append(req)
        self.paths.append(self.path)
        out = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    Receiver.got.clear()
    Receiver.paths.clear()
    with serving(Receiver) as url:
        yield url


def _profile(tmp: Path) -> Path:
    cfg = tmp / "sim.toml"
    cfg.write_text(FIXED)
    path = tmp / "p.toml"
    path.write_text(
        f"""
name = "otlptest"
out = "{tmp / "reports"}"
duration = "20s"
interval = "1s"
requests = 30
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


def _metrics(req: ExportMetricsServiceRequest) -> dict[str, Any]:
    return {m.name: m for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}


def _attrs(point: Any) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in point.attributes}


@pytest.mark.slow
def test_a_run_pushes_genai_named_metrics_that_agree_with_its_summary(
    tmp_path: Path, collector: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", str(_profile(tmp_path)), "--otlp", collector, "--quiet"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    summary = json.loads((run_dir / "summary.json").read_text())["targets"]["fixed"]
    assert Receiver.got and set(Receiver.paths) == {"/v1/metrics"}
    last = _metrics(Receiver.got[-1])  # the push at the end: the whole run
    ttft = last["gen_ai.client.operation.time_to_first_chunk"]
    assert ttft.unit == "s"
    [point] = ttft.histogram.data_points
    assert _attrs(point) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "fixed",
        "loadtest.target": "fixed",
        "loadtest.profile": "otlptest",
    }
    assert point.count == summary["metrics"]["ttft"]["count"] == 30
    assert point.sum / point.count == pytest.approx(
        summary["metrics"]["ttft"]["mean"] / 1000, rel=0.01
    )
    assert sum(point.bucket_counts) == point.count
    assert len(point.bucket_counts) == len(point.explicit_bounds) + 1
    assert point.min <= point.sum / point.count <= point.max
    itl = last["gen_ai.client.operation.time_per_output_chunk"].histogram.data_points[0]
    assert itl.count == summary["metrics"]["itl"]["count"] == 30 * 9
    e2e = last["gen_ai.client.operation.duration"].histogram.data_points[0]
    assert e2e.count == 30
    tokens = {
        _attrs(p)["gen_ai.token.type"]: p
        for p in last["gen_ai.client.token.usage"].histogram.data_points
    }
    assert tokens["output"].sum == summary["tokens"]["output"] and tokens["output"].count == 30
    assert tokens["input"].sum == summary["tokens"]["input"]
    requests = {
        _attrs(p)["loadtest.outcome"]: p.as_double or p.as_int
        for p in last["loadtest.requests"].sum.data_points
    }
    assert requests == {"completed": 30, "failed": 0}
    assert last["loadtest.requests"].sum.is_monotonic
    runs = last["loadtest.runs"].sum.data_points
    assert [(_attrs(p)["loadtest.outcome"], p.as_double or p.as_int) for p in runs] == [("ok", 1)]


@pytest.mark.slow
def test_a_bad_otlp_url_is_one_line_and_a_missing_collector_loses_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = str(_profile(tmp_path))
    assert main(["run", profile, "--otlp", "collector:4318", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--otlp: expected an http(s) URL" in err and err.count("\n") == 1
    assert main(["run", profile, "--otlp", "ftp://u:hunter2@127.0.0.1", "--quiet"]) == 2
    assert "hunter2" not in capsys.readouterr().err
    # Nothing listens on port 9: every push fails, the run is whole all the same.
    started = time.monotonic()
    assert main(["run", profile, "--otlp", "http://127.0.0.1:9", "--quiet"]) == 0
    took = time.monotonic() - started
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        json.loads((run_dir / "summary.json").read_text())["targets"]["fixed"]["requests"][
            "completed"
        ]
        == 30
    )
    assert took < 30

"""The server's own metrics beside the client's, for real: the simulator's /metrics
scraped by a run, its workers added up, and metrics endpoints that are missing,
broken or hung (small real servers on 127.0.0.1)."""

from __future__ import annotations

import http.server
import itertools
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest
from local_http import serving
from rich.console import Console

from loadtest import server_scrape, store
from loadtest.cli import main
from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.report import markdown
from loadtest.runner import run
from loadtest.schema import Summary
from loadtest.server_metrics import parse
from loadtest.sim.process import Simulator

EPOCH, FAR = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
FIXED = """
[models.fixed]
ttft_median_ms = 150
ttft_p95_ms = 150.15
prefill_ms_per_1k_tokens = 0
tokens_per_s = 50
token_jitter = 0
"""


def _profile(tmp: Path, target_extra: str = "", body: str = "") -> Path:
    cfg = tmp / "sim.toml"
    cfg.write_text(FIXED)
    path = tmp / "p.toml"
    path.write_text(
        f"""
out = "{tmp / "reports"}"
duration = "20s"
interval = "1s"
requests = 24
{body}
[load]
concurrency = 3
[workload]
input_tokens = 20
output_tokens = 20
ignore_eos = true
[[targets]]
kind = "openai"
model = "fixed"
base_url = "sim"
{target_extra}
[simulator]
seed = 1
config = "{cfg}"
"""
    )
    return path


def _run(path: Path) -> Summary:
    return _run_dir(path)[1]


def _run_dir(path: Path) -> tuple[Path, Summary]:
    return run(load_profile(path), Console(quiet=True), live=False, quiet=True)


@pytest.mark.slow
def test_the_simulators_metrics_sit_just_under_the_clients_at_low_load(tmp_path: Path) -> None:
    run_dir, summary = _run_dir(_profile(tmp_path))
    t = summary["targets"]["fixed"]
    s = t["server"]
    assert s["server"] == "vllm" and s["failed_scrapes"] == 0 and "note" not in s
    assert s["source"].endswith("/metrics")
    # No warm-up: the server saw exactly the requests the client recorded.
    assert s["metrics"]["ttft"]["count"] == t["requests"]["recorded"] == 24
    assert s["counters"]["requests"] == 24
    assert sum(r.get("requests", 0) for r in s["per_interval"]) == 24
    # The server's TTFT is its injected 150 ms from the request's arrival; the client's
    # adds the trip there and back and its own reading: small and positive.
    mean = s["metrics"]["ttft"]["mean"]
    assert mean is not None and 150 <= mean <= 156
    gap = s["client_minus_server"]["ttft"]["mean"]
    assert gap is not None and 0 < gap < 5
    assert s["metrics"]["itl"]["count"] == 24 * 19  # every gap of 20 content events
    assert abs(s["client_minus_server"]["itl"]["mean"] or 99) < 1
    queue = s["metrics"]["queue"]["mean"]
    assert queue is not None and queue < 5
    assert s["gauges"]["running"]["max"] <= 3
    assert s["percentiles"].startswith("interpolated")
    rows = s["per_interval"]
    assert rows and rows[0]["start_s"] == 0.0
    assert all(b["start_s"] >= a["start_s"] for a, b in itertools.pairwise(rows))
    # The store keeps it with the target's block; the reports show it.
    db = store.connect(tmp_path / "history.db")
    store.import_run(db, run_dir)
    [(name, block)] = store.target_summaries(db, summary["profile"], EPOCH, FAR)
    assert name == "fixed" and block["server"] == s
    html = (run_dir / "index.html").read_text()
    assert "<h2>Server side</h2>" in html and "fixed: TTFT per interval, client and server" in html
    md = markdown.render(summary)
    assert "| fixed | TTFT | " in md


@pytest.mark.slow
def test_the_simulators_workers_are_added_up_whichever_answers() -> None:
    cfg_requests = 40
    with Simulator(None, seed=1, workers=2) as sim:
        seen = set()
        for _ in range(cfg_requests):
            body = (
                b'{"model":"gpt-4o-nano","max_tokens":3,"stream":true,'
                b'"messages":[{"role":"user","content":"hi"}]}'
            )
            req = urllib.request.Request(
                sim.base_url + "/v1/chat/completions",
                data=body,
                headers={"Content-Type": "application/json", "Connection": "close"},
            )
            with urllib.request.urlopen(req, timeout=10) as resp:
                seen.add(resp.headers["x-request-id"].split("x")[0])
                resp.read()
        texts = [
            urllib.request.urlopen(sim.base_url + "/metrics").read().decode() for _ in range(6)
        ]
    assert len(seen) == 2, seen  # both workers served (new connections spread over them)
    for text in texts:  # whichever worker answered the scrape: the same totals
        snap = parse(text, "gpt-4o-nano")
        assert snap.counters["requests"] == cfg_requests
        assert snap.hists["ttft"].count == cfg_requests
        assert snap.gauges["running"] == 0


class _Metrics(http.server.BaseHTTPRequestHandler):
    """/missing: 404; /html: a web page; /flaky: good text once, then garbage; /hung:
    good text once, then each answer after 3 s."""

    calls: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        n = self.calls[self.path] = self.calls.get(self.path, 0) + 1
        if self.path == "/hung" and n > 1:
            time.sleep(3)
        if self.path == "/missing":
            self.send_error(404)
            return
        if self.path == "/html" or (self.path == "/flaky" and n > 1):
            body = b"<html><body>metrics are elsewhere</body></html>"
        else:
            body = b"# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def metrics_server() -> Iterator[str]:
    with serving(_Metrics) as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "note", "scrapes"),
    [
        ("/missing", "HTTP 404", 0),
        ("/html", "not Prometheus text", 0),
        ("/flaky", "not Prometheus text", 1),
    ],
)
def test_a_missing_or_broken_metrics_endpoint_is_said_and_the_run_goes_on(
    tmp_path: Path, metrics_server: str, path: str, note: str, scrapes: int
) -> None:
    summary = _run(_profile(tmp_path, f'metrics_url = "{metrics_server}{path}"'))
    t = summary["targets"]["fixed"]
    assert t["requests"]["recorded"] == 24 and t["requests"]["failed"] == 0
    s = t["server"]
    assert s["scrapes"] == scrapes
    assert s["note"].startswith(note)
    if path == "/flaky":
        assert s["failed_scrapes"] >= 2  # every interval after the first, and the end


@pytest.mark.slow
def test_a_hung_metrics_endpoint_never_holds_up_the_load(
    tmp_path: Path, metrics_server: str
) -> None:
    # Every scrape after the first is given up after 2 s, beside the load, not in it.
    t0 = time.monotonic()
    summary = _run(_profile(tmp_path, f'metrics_url = "{metrics_server}/hung"'))
    took = time.monotonic() - t0
    s = summary["targets"]["fixed"]["server"]
    assert s["scrapes"] == 1 and s["note"] == "no answer in 2 s"
    assert s["failed_scrapes"] >= 2
    m = summary["targets"]["fixed"]["metrics"]["ttft"]
    assert m["max"] < 200  # the load's own timings untouched
    assert took < 20


def test_no_metrics_url_scrapes_nothing_and_a_bad_one_is_a_one_line_error(
    tmp_path: Path,
) -> None:
    p = load_profile(_profile(tmp_path, 'metrics_url = ""'))
    assert p.targets[0].metrics_url == ""
    with pytest.raises(ConfigError, match=r"targets\[0\]\.metrics_url: expected an http\(s\) URL"):
        load_profile(_profile(tmp_path, 'metrics_url = "localhost:8000/metrics"'))
    bad = _profile(tmp_path, 'metrics_url = "ftp://user:secret@host/metrics"')
    with pytest.raises(ConfigError) as info:
        load_profile(bad)
    assert "secret" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.slow
def test_a_run_of_one_interval_scrapes_before_and_after_without_a_scrape_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scheduled probe is no longer than its interval: nothing is scraped during its load,
    # so the process that would parse those scrapes is not started beside it.
    started: list[object] = []
    real = server_scrape._new_pool

    def counted() -> object:
        started.append(1)
        return real()

    monkeypatch.setattr(server_scrape, "_new_pool", counted)
    text = _profile(tmp_path).read_text().replace("requests = 24", "requests = 6")
    path = tmp_path / "short.toml"
    path.write_text(text.replace('interval = "1s"', 'interval = "20s"'))
    summary = _run(path)
    s = summary["targets"]["fixed"]["server"]
    assert started == []
    assert s["failed_scrapes"] == 0 and s["scrapes"] >= 2
    assert s["counters"]["requests"] == 6
    # Nor does a scheduled probe, which starts its scrape process early, before its
    # --start-at wait, when it needs one.
    now = datetime.now(UTC).isoformat()
    assert main(["run", str(path), "--start-at", now, "--quiet", "--no-live"]) == 0
    assert started == []
    # and a run with boundaries in its load does start one
    path.write_text(text)
    _run(path)
    assert started == [1]

"""Reports of saved runs: golden Markdown and JSON, .hgrm, bad run folders, and the HTML
report rendered in headless Chromium."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from rich.console import Console

from loadtest import hlog
from loadtest.cli import main
from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.report import hgrm, markdown, svg
from loadtest.report.run_data import load_run
from loadtest.report.terminal import print_summary
from loadtest.runner import run
from loadtest.schema import parse_summary

GOLDEN = Path(__file__).parent / "golden"


def _golden_run(tmp_path: Path) -> Path:
    d = tmp_path / "20261124T140000Z-golden"
    d.mkdir()
    shutil.copy(GOLDEN / "summary.json", d / "summary.json")
    return d


def test_markdown_matches_the_golden_file() -> None:
    summary = json.loads((GOLDEN / "summary.json").read_text())
    assert markdown.render(summary) == (GOLDEN / "report.md").read_text()


@pytest.mark.parametrize(
    ("width", "golden"),
    [(150, "report.term.txt"), (80, "report.term80.txt"), (60, "report.term60.txt")],
)
def test_the_end_of_run_table_matches_the_golden_file(width: int, golden: str) -> None:
    # Wide: the tables with their errors columns. At 80 columns (a terminal, or a CI
    # log, which rich takes as 80) and 60, each row is a block of whole items instead:
    # no number clipped or cut from its unit, no column dropped, errors under it.
    summary = parse_summary((GOLDEN / "summary.json").read_bytes())
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False)
    print_summary(console, summary, Path("reports/20261124T140000Z-golden"))
    text = "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())
    assert text == (GOLDEN / golden).read_text()
    assert all(len(line) <= width for line in text.splitlines() if " " in line.strip())
    for n in ("240", "250", "1250/2480", "http_429 7", "timeout_ttft 3", "13.33", "1180/1650"):
        assert n in text


def test_report_command_renders_md_and_json_from_a_saved_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = _golden_run(tmp_path)
    assert main(["report", str(d), "--format", "md"]) == 0
    assert capsys.readouterr().out == (GOLDEN / "report.md").read_text()
    out = tmp_path / "copy.json"
    assert main(["report", str(d), "--format", "json", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads((GOLDEN / "summary.json").read_text())
    assert main(["report", str(d), "--format", "term"]) == 0
    assert "gpt-4o-mini" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "not a run directory"),
        (lambda d: d.mkdir(), "no summary.json"),
        (lambda d: (d.mkdir(), (d / "summary.json").write_text("{oops")), "not valid JSON"),
        (lambda d: (d.mkdir(), (d / "summary.json").write_text("[]")), "not a loadtest summary"),
    ],
    ids=["missing", "empty", "broken", "foreign"],
)
def test_bad_run_folders_get_one_line(
    tmp_path: Path, setup: Callable[[Path], object], message: str
) -> None:
    d = tmp_path / "run"
    setup(d)
    with pytest.raises(ConfigError, match=message) as info:
        load_run(d)
    assert "\n" not in str(info.value)


def test_a_broken_log_line_names_file_and_line(tmp_path: Path) -> None:
    d = _golden_run(tmp_path)
    (d / "intervals.hlog").write_text("#[header]\nTag=a/ttft,0.000,1.000,nonsense\n")
    with pytest.raises(ConfigError, match=r"intervals.hlog:2: not an interval line"):
        load_run(d)


def test_hgrm_lists_percentiles_in_ms_with_the_footer() -> None:
    h = HdrHistogram(1, 60_000_000, 3)
    for ms in range(1, 1001):
        h.record_value(ms * 1000)
    text = hgrm.render(h, 1000.0)
    lines = text.splitlines()
    assert lines[0].split() == ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    rows = [x.split() for x in lines[2:] if x and not x.startswith("#")]
    values = [float(r[0]) for r in rows]
    pcts = [float(r[1]) for r in rows]
    assert values == sorted(values) and pcts == sorted(pcts)
    assert rows[0][0] == "1.000" and rows[-1][1] == "1.000000000000" and rows[-1][2] == "1000"
    # 1..1000 ms recorded once each: the value at percentile p is p x 1000 ms (within a
    # bucket, 0.1%, and one rank)
    for value, pct in zip(values, pcts, strict=True):
        if 0.01 <= pct < 1:
            assert value == pytest.approx(pct * 1000, rel=0.002, abs=1.5), pct
    mean, std = (float(x) for x in re.findall(r"= +([\d.]+)", text.split("#[Mean")[1])[:2])
    assert mean == pytest.approx(500.5, abs=0.1)
    assert std == pytest.approx(288.7, abs=0.2)  # in ms too: hdrh's writer leaves it in us
    assert "#[Max     =     1000.447, Total count    =         1000]" in text


def test_chart_axes_cover_the_data() -> None:
    for hi in (0.7, 9.99, 10, 1250.0, 2481.0):
        assert svg._nice_ticks(0, hi)[-1] >= hi
    assert svg.percentile_x(0) == 0 and svg.percentile_x(99) == pytest.approx(2)
    empty = svg.line_chart("TTFT", [], "x", "ms")
    assert "no data" in empty


def _chromium(chromium: str, page: Path, tmp_path: Path, width: int = 1400) -> tuple[str, bytes]:
    """PAGE in headless Chromium: its DOM as rendered, and a screenshot WIDTH wide."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--enable-logging=stderr",
        f"--window-size={width},2400",
    ]
    dom = subprocess.run(
        [chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=90
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "CONSOLE" not in dom.stderr and "Uncaught" not in dom.stderr
    shot = tmp_path / f"{page.stem}-{width}.png"
    subprocess.run(
        [chromium, *flags, f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=90,
        check=True,
    )
    return dom.stdout, shot.read_bytes()


@pytest.mark.slow
def test_time_of_day_page_renders_one_scale_a_legend_and_the_overlay(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from test_timeofday import _week

    from loadtest.report import timeofday_html
    from loadtest.timeofday import Options, analyse

    rows, counts = _week({"spiky": 2.0, "steady": 1.1})
    counts = [c if c.target == "spiky" else type(c)(c.target, c.start, 60, 0, 0) for c in counts]
    page = tmp_path / "timeofday.html"
    page.write_text(timeofday_html.render(analyse(rows, counts, rounds=50), Options()))
    for width in (1400, 390):  # a desktop and a phone
        dom, png = _chromium(chromium, page, tmp_path, width)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 30_000
        assert dom.count('<table class="heat">') == 2 and dom.count('class="legend"') == 2
        overlay = dom.split('aria-label="TTFT P95 by hour of the week, every target"')[1]
        overlay = overlay.split("</svg>")[0]
        assert "spiky" in overlay and "steady" in overlay and overlay.count('class="series"') >= 4
        # errors happened for one target only: one table, only of the hours with errors
        assert dom.count("Errors and 429s by hour") == 1
        assert "width=device-width" in page.read_text()


@pytest.mark.slow
def test_html_report_of_a_real_run_renders_in_chromium(tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    prof = tmp_path / "p.toml"
    prof.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "4s"\nwarmup = "1s"\ninterval = "1s"\n'
        "[load]\nconcurrency = 4\n[workload]\ninput_tokens = 20\noutput_tokens = 16\n"
        '[[targets]]\nname = "nano"\nkind = "openai"\nmodel = "gpt-4o-nano"\nbase_url = "sim"\n'
        '[[targets]]\nname = "haiku"\nkind = "anthropic"\nmodel = "claude-3-5-haiku"\n'
        'base_url = "sim"\n[simulator]\nsim_start = "2026-11-22T03:00:00-05:00"\n'
    )
    run_dir, _ = run(load_profile(prof), Console(quiet=True), live=False, quiet=True)
    index = run_dir / "index.html"
    page = index.read_text()
    assert "<script" not in page and "http://" not in page.replace(str(run_dir), "")
    assert len(list((run_dir / "hgrm").glob("*.hgrm"))) >= 2 * 9 - 2  # tpot may be absent
    dom, png = _chromium(chromium, index, tmp_path)
    # every chart was drawn with data: a path per series, both targets in the legends
    charts = dom.split('<svg class="chart"')[1:]
    titles = [c.split('aria-label="', 1)[1].split('"', 1)[0] for c in charts]
    assert titles == [
        "TTFT by percentile",
        "Inter-token latency by percentile",
        "End-to-end latency by percentile",
        "TTFT from the intended send time",
        "TTFT p50 per interval",
        "TTFT p95 per interval",
        "TTFT p99 per interval",
        "E2E p95 per interval",
        "Completed requests per second",  # no failures: no chart of them
        # The simulator's own /metrics, per target, on the same time axis.
        "nano: TTFT per interval, client and server",
        "nano: the server's requests at each interval's end",
        "haiku: TTFT per interval, client and server",
        "haiku: the server's requests at each interval's end",
        "Requests left of the rate limit, per interval",
        "Client: event-loop lag per interval",
        "Client: CPU per interval (% of one core)",
    ]
    for c in charts[:9] + charts[13:14]:  # one line per target, each named in the legend
        assert c.count('class="series"') >= 4 and "nano" in c and "haiku" in c, c[:200]
    assert "requests left" in dom and " of " in dom  # headroom as numbers, not headers
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a drawn page, not blank
    assert hlog.tag("nano", "ttft") in (run_dir / "intervals.hlog").read_text()

"""The servers' words behind errors: normalised, counted per class, bounded, and shown
in the summary, the end-of-run table, Markdown, HTML and the dashboard."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from refuser import Refuser
from rich.console import Console

from loadtest import messages
from loadtest.dashboard import DashboardState, plain_lines, target_panel
from loadtest.profile import load_profile
from loadtest.records import Health, Interval, TargetCounts, TargetStatus
from loadtest.report import markdown
from loadtest.report.terminal import print_summary
from loadtest.runner import run


@pytest.mark.parametrize(
    ("detail", "expected"),
    [
        ("HTTP 401: Invalid API key", "HTTP 401: Invalid API key"),
        (
            "HTTP 429: Rate limit reached (request req_8fK2mQ9zPq1x, org org-1)",
            "HTTP 429: Rate limit reached (request …, org org-1)",
        ),
        ("id 6f1c2a3b-0d4e-4f5a-8b6c-7d8e9f0a1b2c failed", "id … failed"),
        ("trace 0123456789abcdef0123 at\n  line 2", "trace … at line 2"),
        ("max_tokens must be greater than thinking.budget_tokens", None),
    ],
)
def test_a_message_is_normalised_so_ids_do_not_split_it(detail: str, expected: str | None) -> None:
    assert messages.normalise(detail) == (detail if expected is None else expected)


def test_a_long_message_is_cut_and_marked() -> None:
    out = messages.normalise("x " * 400)
    assert len(out) == messages.MAX_CHARS and out.endswith("…")


def test_distinct_messages_are_bounded_and_the_rest_counted_as_other() -> None:
    c: Counter[messages.Key] = Counter()
    for i in range(messages.MAX_DISTINCT + 25):
        messages.count(c, "http_4xx", f"HTTP 400: field {i} is wrong")
    assert len(c) == messages.MAX_DISTINCT + 1
    assert c[("http_4xx", messages.OTHER)] == 25
    assert sum(c.values()) == messages.MAX_DISTINCT + 25
    merged = TargetCounts()
    merged.add(TargetCounts(messages=c))
    merged.add(TargetCounts(messages=Counter({("timeout_ttft", "new"): 2})))
    # Merging keeps the bound: beyond it, one OTHER per class.
    assert len(merged.messages) == messages.MAX_DISTINCT + 2
    assert merged.messages[("timeout_ttft", messages.OTHER)] == 2


def test_top_keeps_the_most_frequent_per_class() -> None:
    c: Counter[messages.Key] = Counter(
        {("http_429", "a"): 5, ("http_429", "b"): 9, ("http_429", "c"): 1, ("http_429", "d"): 2}
    )
    c[("http_5xx", "boom")] = 3
    c[("timeout_ttft", "")] = 7  # no detail: not a message
    assert messages.top(c, per_class=2) == [
        ("http_429", "b", 9),
        ("http_429", "a", 5),
        ("http_5xx", "boom", 3),
    ]


def test_the_dashboard_shows_the_last_error_of_each_target() -> None:
    state = DashboardState("t", 10.0)
    said = Counter({("http_4xx", "HTTP 400: max_tokens must be greater than budget"): 3})
    iv = Interval(0, 10**9, {}, {}, {"a": TargetCounts(failed=3, messages=said)})
    snap = state.update(iv, Health(), {"a": TargetStatus("a", "closed", 4.0, failed=3)}, 1.0)
    assert (
        snap.targets[0].last_error == "http_4xx: HTTP 400: max_tokens must be greater than budget"
    )
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(target_panel(snap.targets[0]))
    assert "http_4xx: HTTP 400: max_tokens" in out.getvalue()
    assert "last error http_4xx: HTTP 400" in plain_lines(snap)[1]
    quiet = state.update(
        Interval(10**9, 2 * 10**9, {}, {}, {"a": TargetCounts()}),
        Health(),
        {"a": TargetStatus("a", "closed", 4.0)},
        2.0,
    )
    assert quiet.targets[0].last_error.startswith("http_4xx")  # the last one stays shown


@pytest.mark.slow
def test_a_servers_refusals_reach_every_report_once_and_counted(tmp_path: Path) -> None:
    # Each 400 carries its own request id: one message, counted 5 times (five 400s in a
    # row are a fatal streak: the target stops), in the summary,
    # the end-of-run table, Markdown and HTML.
    said = "max_tokens must be greater than thinking.budget_tokens (request req_{:08d}x)"
    with Refuser(400, message=said.format) as server:
        path = tmp_path / "p.toml"
        path.write_text(
            f'out = "{tmp_path}"\nduration = "20s"\nrequests = 8\n[load]\nconcurrency = 1\n'
            '[[targets]]\nname = "t"\nkind = "openai-compatible"\nmodel = "m"\n'
            f'base_url = "{server.url}"\n'
        )
        run_dir, summary = run(load_profile(path), Console(quiet=True), live=False, quiet=True)
    t = summary["targets"]["t"]
    assert t["errors"] == {"http_4xx": 5} and "HTTP 400 in a row" in t["stopped_by"]
    (m,) = t["messages"]
    assert m["error"] == "http_4xx" and m["count"] == 5
    assert "max_tokens must be greater than thinking.budget_tokens (request …)" in m["message"]
    out = io.StringIO()
    print_summary(Console(file=out, width=80, color_system=None), summary, run_dir)
    assert "t http_4xx ×5:" in out.getvalue() and "thinking.budget_tokens" in out.getvalue()
    assert "`http_4xx` ×5: " in markdown.render(summary)
    html = (run_dir / "index.html").read_text()
    assert "What the servers said" in html and "thinking.budget_tokens" in html

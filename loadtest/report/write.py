"""Writing a run's report files next to its data, and rendering it in any format."""

from __future__ import annotations

from pathlib import Path

import orjson

from loadtest.report import hgrm, html, markdown
from loadtest.report.run_data import RunData, load_run

FORMATS = ("html", "md", "json", "term")


def write_report(run_dir: str | Path) -> Path:
    """Write index.html and hgrm/<target>.<metric>.hgrm into RUN_DIR; returns index.html."""
    run = load_run(run_dir)
    hgrm.write_all(run, run.path / "hgrm")
    index = run.path / "index.html"
    index.write_text(html.render(run), encoding="utf-8")
    return index


def render(run: RunData, fmt: str) -> str:
    """The report of RUN as text in FMT (html, md or json; term is printed by the CLI)."""
    if fmt == "html":
        return html.render(run)
    if fmt == "md":
        return markdown.render(run.summary)
    if fmt == "json":
        return orjson.dumps(run.summary, option=orjson.OPT_INDENT_2).decode() + "\n"
    raise ValueError(f"no text rendering for {fmt!r}")

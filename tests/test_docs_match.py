"""What the README and `--help` say matches the code: every command the README shows
parses, help texts print no '%%', a pipe into `head` is no traceback, a store that is
only read is never created, and compare says when its runs cannot or should not compare."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.cli import main
from loadtest.cli.parser import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
GOLDEN = Path(__file__).parent / "golden"


def _shown_commands() -> list[str]:
    """Every `$ loadtest ...` line of the README's console blocks, less its comment
    (usage lines with [optional] parts are syntax, not commands)."""
    out = []
    for line in README.read_text().splitlines():
        if line.startswith("$ loadtest ") and "[" not in line:
            out.append(re.split(r"\s+#", line[2:])[0].strip())
    return out


@pytest.mark.parametrize("command", _shown_commands())
def test_every_command_the_readme_shows_parses(command: str) -> None:
    build_parser().parse_args(shlex.split(command)[1:])  # SystemExit 2 when it does not


def test_no_help_text_prints_a_doubled_percent(capsys: pytest.CaptureFixture[str]) -> None:
    commands = ["mock", "run", "init", "validate", "schedule", "report", "compare", "store"]
    texts = {}
    for command in [[], *([c] for c in commands)]:
        with pytest.raises(SystemExit):
            build_parser().parse_args([*command, "--help"])
        texts[" ".join(command)] = text = capsys.readouterr().out
        assert "%%" not in text, command
    assert "95% confidence interval" in " ".join(texts["compare"].split())
    assert "errors.rate < 1%'" in " ".join(texts["run"].split())
    assert "(default America/New_York)" in " ".join(texts["report"].split())


def test_a_reader_that_goes_away_is_no_traceback(tmp_path: Path) -> None:
    d = tmp_path / "20261124T140000Z-golden"
    d.mkdir()
    shutil.copy(GOLDEN / "summary.json", d / "summary.json")
    loadtest = [sys.executable, "-m", "loadtest"]
    # Enough output that the writer is still writing when `head` has read its line.
    cmd = f"for i in $(seq 40); do echo; done; {shlex.join(loadtest)} report {d} --format md"
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; ( {cmd}; {cmd}; {cmd} ) | head -1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr, proc.stderr


def test_listing_a_store_that_is_not_there_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nope.db"
    assert main(["store", "list", "--store", str(db)]) == 2
    assert "no such store" in capsys.readouterr().err and not db.exists()
    assert main(["report", "timeofday", "--store", str(db), "--format", "json"]) == 2
    assert "no such store" in capsys.readouterr().err and not db.exists()


def _run(tmp_path: Path, name: str, targets: list[str], load: dict[str, object]) -> Path:
    d = tmp_path / name
    d.mkdir()
    summary = json.loads((GOLDEN / "summary.json").read_text())
    t = summary["targets"]["claude-3-5-haiku"]
    summary["targets"] = {n: {**t, "load": load} for n in targets}
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def test_compare_refuses_runs_with_no_target_in_common(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path, "a", ["x", "y"], {"mode": "closed", "concurrency": 4, "rate": None})
    b = _run(tmp_path, "b", ["z", "w"], {"mode": "closed", "concurrency": 4, "rate": None})
    assert main(["compare", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "the runs share no target" in err and "x, y" in err and "z, w" in err


def test_compare_warns_when_the_loads_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path, "a", ["x"], {"mode": "closed", "concurrency": 4, "rate": None})
    b = _run(tmp_path, "b", ["x"], {"mode": "open", "concurrency": 4, "rate": 20.0})
    assert main(["compare", str(a), str(b), "--format", "json"]) == 0
    err = capsys.readouterr().err
    assert "loadtest: warning: x: the runs' loads differ: closed loop, 4 streams |" in err
    same = _run(tmp_path, "c", ["x"], {"mode": "closed", "concurrency": 4, "rate": None})
    assert main(["compare", str(a), str(same), "--format", "json"]) == 0
    assert "warning" not in capsys.readouterr().err

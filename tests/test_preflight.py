"""The preflight request: a target that refuses it for good stops `loadtest run` with the
server's own words and exit 2, before any load and any file; 5xx is a warning only.
End to end against small real servers on 127.0.0.1."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from aiohttp import web
from refuser import Refuser

from loadtest.cli import main
from loadtest.errors import ExitCode


class Answer(Refuser):
    """A Refuser whose every POST gets this body and content type."""

    def __init__(self, status: int, body: str, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.body, self.content_type = body, content_type

    async def _handle(self, request: web.Request) -> web.Response:
        self.count += 1
        await request.read()
        return web.Response(status=self.status, text=self.body, content_type=self.content_type)


def _profile(tmp: Path, url: str, extra: str = "") -> Path:
    path = tmp / "p.toml"
    path.write_text(
        f'out = "{tmp / "reports"}"\nduration = "5s"\ninterval = "1s"\nrequests = 3\n'
        f"[load]\nconcurrency = 1\n{extra}\n[workload]\ninput_tokens = 20\noutput_tokens = 64\n"
        '[[targets]]\nname = "t"\nkind = "openai-compatible"\nmodel = "m"\n'
        f'base_url = "{url}"\n'
    )
    return path


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_dirs(tmp: Path) -> list[Path]:
    """The run directories under the profile's out (the folder itself may exist)."""
    out = tmp / "reports"
    return list(out.iterdir()) if out.exists() else []


FIELD = '{"error": {"message": "Unrecognized request argument supplied: ignore_eos"}}'


@pytest.mark.parametrize(
    ("server", "said"),
    [
        (Refuser(401), 'HTTP 401: {"error": {"message": "refused with 401"}}'),
        (Refuser(403), "refused with 403"),
        (Refuser(404), "HTTP 404"),
        (Answer(400, FIELD), "HTTP 400: " + FIELD),
        (Answer(422, '{"detail": [{"loc": ["body", "top_k"], "msg": "extra field"}]}'), "top_k"),
        (Answer(200, "<html><body>login</body></html>", "text/html"), "not text/event-stream"),
    ],
    ids=["401", "403", "404", "400-field", "422", "200-html"],
)
def test_a_refused_preflight_stops_the_run_before_any_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], server: Refuser, said: str
) -> None:
    with server:
        code = main(["run", str(_profile(tmp_path, server.url)), "--quiet", "--no-live"])
        assert server.count == 1  # the preflight request, and no load after it
    out, err = capsys.readouterr()
    assert code == ExitCode.USER_ERROR.value == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("loadtest: error: preflight request to target 't' failed: ")
    assert said in lines[0], lines[0]
    assert _run_dirs(tmp_path) == []  # no run directory


def test_a_closed_port_stops_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    assert main(["run", str(_profile(tmp_path, url)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "target 't' failed: ClientConnectorError" in err, err
    assert _run_dirs(tmp_path) == []


def test_a_5xx_preflight_is_a_warning_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Refuser(500) as server:
        code = main(["run", str(_profile(tmp_path, server.url)), "--no-live"])
        assert server.count == 1 + 3  # the preflight request, then the load's 3
    out, _ = capsys.readouterr()
    assert code == ExitCode.NOTHING_COMPLETED
    assert "warning: preflight request to target 't' failed: HTTP 500" in out, out
    (run_dir,) = (tmp_path / "reports").iterdir()
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 3  # not recorded


def test_a_good_target_passes_and_is_not_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(
        f'out = "{tmp_path / "reports"}"\nduration = "5s"\nrequests = 3\n[load]\nconcurrency = 1\n'
        "[workload]\ninput_tokens = 20\noutput_tokens = 4\n"
        '[[targets]]\nname = "sim"\nkind = "openai"\nmodel = "gpt-4o-nano"\nbase_url = "sim"\n'
        "[simulator]\nseed = 1\n"
    )
    assert main(["run", str(path), "--quiet"]) == ExitCode.OK
    run_dir = Path(capsys.readouterr().out.strip())
    assert len((run_dir / "results.jsonl").read_text().splitlines()) == 3
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["targets"]["sim"]["requests"]["completed"] == 3


def test_no_preflight_skips_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Refuser(401) as server:
        path = _profile(tmp_path, server.url).read_text().replace("requests = 3\n", "")
        (tmp_path / "p.toml").write_text(path)
        code = main(["run", str(tmp_path / "p.toml"), "--quiet", "--no-preflight"])
        assert server.count == 5  # the load's, stopped by the fatal streak
    assert code == ExitCode.NOTHING_COMPLETED
    run_dir = Path(capsys.readouterr().out.strip())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["targets"]["t"]["stopped_by"].startswith("5 x HTTP 401 in a row")

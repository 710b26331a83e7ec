"""A server that refuses every request is not hammered: end to end against small real
servers on 127.0.0.1 that answer 401, 429 with retry-after, or 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from refuser import Refuser
from rich.console import Console

from loadtest.profile import load_profile
from loadtest.runner import run

ProfileFor = Callable[[str, str], Path]


@pytest.fixture
def profile_for(tmp_path: Path) -> Iterator[ProfileFor]:
    def make(url: str, load: str) -> Path:
        path = tmp_path / "p.toml"
        path.write_text(
            f'out = "{tmp_path / "reports"}"\nduration = "5s"\ninterval = "1s"\n{load}\n'
            '[[targets]]\nname = "t"\nkind = "openai-compatible"\nmodel = "m"\n'
            f'base_url = "{url}"\n'
        )
        return path

    yield make


@pytest.mark.parametrize(
    ("status", "headers", "load", "most", "stopped"),
    [
        # 4 closed-loop workers against a bad key: stopped after 5 in a row, at once
        (401, None, "[load]\nconcurrency = 4", 8, "5 x HTTP 401 in a row"),
        # the same in open loop at 100 req/s: the schedule goes on until the stop
        (403, None, '[load]\nmode = "open"\nrate = 100', 12, "5 x HTTP 403 in a row"),
        # a rate limit asking for 2 s: each worker sends about 3 times in 5 s
        (429, {"retry-after": "2"}, "[load]\nconcurrency = 4", 16, "duration"),
        # a failing server: exponential backoff, not 4 requests per millisecond
        (500, None, "[load]\nconcurrency = 4", 120, "duration"),
    ],
)
def test_a_refusing_server_is_not_hammered(
    profile_for: ProfileFor,
    status: int,
    headers: dict[str, str] | None,
    load: str,
    most: int,
    stopped: str,
) -> None:
    with Refuser(status, headers) as server:
        _, summary = run(
            load_profile(profile_for(server.url, load)),
            Console(quiet=True),
            live=False,
            quiet=True,
        )
    t = summary["targets"]["t"]
    assert 0 < server.count <= most, server.count
    assert t["requests"]["failed"] == t["requests"]["sent"] == server.count
    assert t["stopped_by"].startswith(stopped), t["stopped_by"]
    if status in (401, 403):
        assert f"refused with {status}" in t["stopped_by"]  # the server's own words

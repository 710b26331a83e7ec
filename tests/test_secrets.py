"""No leaked secret: URLs redacted, details scrubbed, keys only where they belong, and a
canary run whose every written and printed byte is searched for the keys and passwords."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web

from loadtest import redact
from loadtest.cli import main
from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.providers.build import builder
from loadtest.workload import Prompt
from loadtest.workload_spec import Workload

PROMPT = Prompt(({"role": "user", "content": "hi"},), 8)

URLS = [
    ("http://u:p@h:8000/v1", "http://***@h:8000/v1"),
    ("https://user@h/v1", "https://***@h/v1"),
    ("http://u:p%40ss@h/v1?x=1#f", "http://***@h/v1?x=1#f"),
    ("http://u:p@ss@h/v1", "http://***@h/v1"),  # an unencoded @ in the password
    ("http://h:8000/v1", "http://h:8000/v1"),
    ("http://h/users/me@x", "http://h/users/me@x"),  # an @ in the path is no userinfo
    ("sim", "sim"),
    ("", ""),
    ("not a url", "not a url"),
]


@pytest.mark.parametrize(("url", "want"), URLS)
def test_url_keeps_the_host_and_drops_user_and_password(url: str, want: str) -> None:
    assert redact.url(url) == want
    assert redact.has_userinfo(url) == (want != url)


KEY = "sk-live-0123456789abcdef"
SCRUB = [
    (f"HTTP 401: bad key {KEY}", [KEY], "HTTP 401: bad key ***"),
    ('{"authorization": "Bearer t0ken-abc"}', [], '{"authorization": "***"}'),
    ("{'X-Api-Key': 'ak-1'}", [], "{'X-Api-Key': '***'}"),
    ("Authorization: Basic dXNlcjpwdw==\nhost: h", [], "Authorization: ***\nhost: h"),
    ("proxy-authorization: x, accept: y", [], "proxy-authorization: ***, accept: y"),
    ("api-key=hk1&model=m", [], "api-key=***&model=m"),
    ('"{\\"Authorization\\": \\"Bearer q1\\"}"', [], '"{\\"Authorization\\": \\"***\\"}"'),
    ("HTTP_AUTHORIZATION=Bearer q", [], "HTTP_AUTHORIZATION=***"),
    ("token Bearer abc123defg ok", [], "token Bearer *** ok"),
    ("see http://u:pw@h:1/x", [], "see http://***@h:1/x"),
    (f"cut short: {KEY[:9]}", [KEY], "cut short: ***"),  # a secret the caller cut
    ("quoted " + KEY.replace("-", "%2D"), [], "quoted " + KEY.replace("-", "%2D")),
    ("percent " + "p%2Fw", ["p/w"], "percent ***"),
    ("Bearer authentication required; Basic realm", [], None),  # no token: unchanged
    ("authorization failed", [], None),
    ("", [KEY], None),
]


@pytest.mark.parametrize(("text", "secrets", "want"), SCRUB)
def test_scrub_removes_keys_and_echoed_credential_headers(
    text: str, secrets: list[str], want: str | None
) -> None:
    assert redact.scrub(text, secrets) == (text if want is None else want)


def test_scrub_cuts_after_scrubbing_never_through_a_secret() -> None:
    text = "x" * 190 + " " + KEY + " tail"
    assert redact.scrub(text, [KEY], limit=200) == "x" * 190 + " *** tail"
    longer = "x" * 190 + " " + KEY + "y" * 300  # cut to 200 after the key is gone
    assert redact.scrub(longer, [KEY], limit=200) == ("x" * 190 + " ***" + "y" * 300)[:200]


def _profile(tmp: Path, body: str) -> Path:
    p = tmp / "p.toml"
    p.write_text(body)
    return p


COMPAT = '[[targets]]\nname = "local"\nkind = "openai-compatible"\nmodel = "m"\n'


def test_openai_compatible_sends_only_a_key_its_profile_names(tmp_path: Path) -> None:
    env = {"OPENAI_API_KEY": "sk-openai", "LOCAL_KEY": "sk-local"}
    plain = _profile(tmp_path, COMPAT + 'base_url = "http://127.0.0.1:8000/v1"\n')
    t = load_profile(plain, env=env).targets[0]
    b = builder(t, Workload(), t.base_url, env=env)
    assert "authorization" not in b.headers and not b.secrets
    named = _profile(
        tmp_path, COMPAT + 'base_url = "http://127.0.0.1:8000/v1"\napi_key_env = "LOCAL_KEY"\n'
    )
    t = load_profile(named, env=env).targets[0]
    b = builder(t, Workload(), t.base_url, env=env)
    assert b.headers["authorization"] == "Bearer sk-local" and b.secrets == ("sk-local",)
    with pytest.raises(ConfigError, match="LOCAL_KEY is not set"):
        builder(t, Workload(), t.base_url, env={"OPENAI_API_KEY": "sk-openai"})
    hosted = _profile(tmp_path, '[[targets]]\nkind = "openai"\nmodel = "m"\n')
    t = load_profile(hosted, env=env).targets[0]
    assert builder(t, Workload(), t.base_url, env=env).headers["authorization"] == (
        "Bearer sk-openai"
    )


FIELDS = [  # kind, extra target lines, workload, stream_options sent, ignore_eos sent
    ("openai", "", Workload(ignore_eos=True), True, False),
    ("openai", "stream_usage = false\n", Workload(), False, False),
    ("openai-responses", "", Workload(ignore_eos=True), False, False),
    ("anthropic", "", Workload(ignore_eos=True), False, False),
    ("openai-compatible", "", Workload(), True, False),
    ("openai-compatible", "", Workload(ignore_eos=True), True, True),
    ("openai-compatible", "stream_usage = false\n", Workload(ignore_eos=True), False, True),
    ("openai", 'base_url = "sim"\n', Workload(ignore_eos=True), True, True),
]


@pytest.mark.parametrize(("kind", "extra", "w", "usage", "eos"), FIELDS)
def test_provider_fields_go_only_where_supported_or_asked(
    tmp_path: Path, kind: str, extra: str, w: Workload, usage: bool, eos: bool
) -> None:
    path = _profile(tmp_path, f'[[targets]]\nkind = "{kind}"\nmodel = "m"\n{extra}')
    env = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"}
    t = load_profile(path, env=env).targets[0]
    body = orjson.loads(builder(t, w, "http://127.0.0.1:1/v1", env=env).body(PROMPT))
    assert ("stream_options" in body, "ignore_eos" in body) == (usage, eos)


def test_url_credentials_are_basic_auth_and_leave_the_url(tmp_path: Path) -> None:
    url = "http://bob:s%2Fcret@127.0.0.1:8000/v1"
    t = load_profile(_profile(tmp_path, COMPAT + f'base_url = "{url}"\n'), env={}).targets[0]
    b = builder(t, Workload(), t.base_url, env={"OPENAI_API_KEY": "sk-openai"})
    assert b.url == "http://127.0.0.1:8000/v1/chat/completions"
    assert b.headers["authorization"] == "Basic " + base64.b64encode(b"bob:s/cret").decode()
    assert "s/cret" in b.secrets and "bob" not in b.secrets  # a short user is only a name
    assert "s%2Fcret" not in repr(b) and "Basic" not in repr(b)


CLASHES = [
    ('[[targets]]\nkind = "openai"\nmodel = "m"\nbase_url = "https://u:pw-x1@h/v1"\n', True),
    (COMPAT + 'base_url = "http://u:pw-x1@h/v1"\napi_key_env = "K"\n', True),
    (COMPAT + 'base_url = "http://u:pw-x1@h/v1"\n[targets.headers]\nAuthorization = "t"\n', True),
    ('[[targets]]\nkind = "anthropic"\nmodel = "m"\nbase_url = "https://u:pw-x1@h"\n', False),
    (COMPAT + 'base_url = "http://u:pw-x1@h/v1"\n', False),
    (COMPAT + 'base_url = "http://u:pw-x1/x@h/v1"\n', True),  # unencoded "/": no host
    (COMPAT + 'base_url = "http://u:pw-x1@h:port/v1"\n', True),
    (COMPAT + 'base_url = "http://u:pw-x1@/v1"\n', True),
]


@pytest.mark.parametrize(("text", "refused"), CLASHES)
def test_url_credentials_are_used_or_refused_in_one_line(
    tmp_path: Path, text: str, refused: bool
) -> None:
    path = _profile(tmp_path, text)
    if not refused:
        assert redact.has_userinfo(load_profile(path, env={}).targets[0].base_url)
        return
    with pytest.raises(ConfigError) as info:
        load_profile(path, env={})
    msg = str(info.value)
    assert "\n" not in msg and "pw-x1" not in msg and "base_url" in msg, msg


# The canary run: keys for every variable, a password in a base URL, a server that
# echoes the request headers in its error bodies, and every byte written searched.

CANARY_KEYS = {
    "OPENAI_API_KEY": "sk-CANARY-openai-7f3a9c",
    "ANTHROPIC_API_KEY": "sk-CANARY-anthropic-51de07",
    "LOADTEST_SECRET_KEY": "sk-CANARY-custom-c0ffee",
}
USER, PASSWORD = "user-CANARY-9d2e", "pw-CANARY-4b8a61"
HEADER_KEY = "hk-CANARY-azure-2c71"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


class EchoServer:
    """Paths under /<mode>/: `echo400` and `echo500` answer with the request headers
    (JSON, and header lines), `cut` with a key at the detail's 200-character cut,
    `stream` fails mid-stream quoting the key, `ok` streams a short completion when the
    Basic auth matches. Every request's headers are kept."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/{mode}/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        mode = request.match_info["mode"]
        headers = dict(request.headers)
        self.seen.append((mode, headers))
        auth = headers.get("Authorization", "")
        if mode == "echo400":
            return web.json_response({"echo": headers, "error": "bad request"}, status=400)
        if mode == "echo500":
            lines = "".join(f"{k}: {v}\n" for k, v in headers.items())
            return web.Response(text=lines, status=500)
        if mode == "cut":
            key = headers.get("x-api-key") or auth
            return web.Response(text="e" * 186 + " " + key, status=400)
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        if mode == "stream":
            err = {"error": {"message": f"upstream refused {auth}", "type": "auth"}}
            await resp.write(b"data: " + orjson.dumps(err) + b"\n\n")
            return resp
        if auth != f"Basic {BASIC}":
            return web.json_response({"error": "no auth", "echo": headers}, status=401)
        for text in ("Hello", " world"):
            chunk = {"choices": [{"index": 0, "delta": {"content": text}}]}
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
        for obj in (done, usage):
            await resp.write(b"data: " + orjson.dumps(obj) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


def _canaries() -> list[bytes]:
    found = [*CANARY_KEYS.values(), USER, PASSWORD, HEADER_KEY, BASIC]
    return [s.encode() for s in found] + [b"CANARY"]


HEAD = 'requests = 3\nduration = "5s"\ninterval = "1s"\n[load]\nconcurrency = 1\n'
HEAD += "[workload]\ninput_tokens = 20\noutput_tokens = 4\n"


def _failing(port: int) -> str:
    at = f"127.0.0.1:{port}"
    return (
        'name = "canary-fail"\n'
        + HEAD
        + f'[[targets]]\nname = "basic"\nkind = "openai-compatible"\nmodel = "m"\n'
        f'base_url = "http://{USER}:{PASSWORD}@{at}/echo400/v1"\n'
        f'[[targets]]\nname = "keyed"\nkind = "openai-compatible"\nmodel = "m"\n'
        f'base_url = "http://{at}/echo500/v1"\napi_key_env = "LOADTEST_SECRET_KEY"\n'
        f'[[targets]]\nname = "azure"\nkind = "openai-compatible"\nmodel = "m"\n'
        f'base_url = "http://{at}/echo400/v1"\n[targets.headers]\napi-key = "{HEADER_KEY}"\n'
        f'[[targets]]\nname = "hosted"\nkind = "openai"\nmodel = "m"\n'
        f'base_url = "http://{at}/stream/v1"\n'
        f'[[targets]]\nname = "claude"\nkind = "anthropic"\nmodel = "m"\n'
        f'base_url = "http://{at}/cut"\n'
    )


def _succeeding(port: int) -> str:
    return (
        'name = "canary-ok"\n'
        + HEAD
        + f'[[targets]]\nname = "basic"\nkind = "openai-compatible"\nmodel = "m"\n'
        f'base_url = "http://{USER}:{PASSWORD}@127.0.0.1:{port}/ok/v1"\n'
        '[[targets]]\nname = "mini"\nkind = "openai"\nmodel = "gpt-4o-mini"\nbase_url = "sim"\n'
        'api_key_env = "LOADTEST_SECRET_KEY"\n'
        '[[targets]]\nname = "haiku"\nkind = "anthropic"\nmodel = "claude-3-5-haiku"\n'
        'base_url = "sim"\n'
    )


@pytest.mark.slow
def test_no_canary_in_any_byte_written_or_printed(
    tmp_path: Path,
    echo: EchoServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for k, v in CANARY_KEYS.items():
        monkeypatch.setenv(k, v)
    src, work = tmp_path / "in", tmp_path / "work"
    src.mkdir()
    work.mkdir()
    out, db = work / "runs", work / "h.db"
    fail, ok = src / "fail.toml", src / "ok.toml"
    fail.write_text(_failing(echo.port))
    ok.write_text(_succeeding(echo.port))
    printed = []

    def cli(*args: str) -> int:
        code = main(list(args))
        captured = capfd.readouterr()
        printed.append(captured.out + captured.err)
        return code

    assert cli("validate", str(fail)) == 0
    # The preflight stops the failing run before any file (its refusal is printed and
    # searched too); without it the run writes every refusal the servers echo.
    cli("run", str(fail), "--no-live", "--out", str(out), "--store", str(db))
    cli("run", str(fail), "--no-live", "--no-preflight", "--out", str(out), "--store", str(db))
    assert cli("run", str(ok), "--no-live", "--out", str(out), "--store", str(db)) == 0
    runs = sorted(d for d in out.iterdir() if d.is_dir())
    assert len(runs) == 2, printed
    for run in runs:
        for fmt in ("md", "json", "html"):
            target = work / f"{run.name}.{fmt}"
            assert cli("report", str(run), "--format", fmt, "--output", str(target)) == 0
        assert cli("report", str(run), "--format", "md") == 0  # to stdout as well
    for fmt in ("term", "md", "json", "html"):
        assert cli("compare", *map(str, runs), "--format", fmt) == 0
    assert cli("store", "import", *map(str, runs), "--store", str(work / "again.db")) == 0
    assert cli("store", "list", "--store", str(db)) == 0
    code = cli(
        "schedule", str(ok), "--cron", "* * * * * *", "--fires", "1",
        "--store", str(db), "--out", str(out),
    )  # fmt: skip
    assert code == 0, printed[-1]

    # The canaries were in play: sent where they belong, echoed back, and scrubbed.
    by_mode: dict[str, list[dict[str, str]]] = {}
    for mode, headers in echo.seen:
        by_mode.setdefault(mode, []).append(headers)
    assert {h["Authorization"] for h in by_mode["echo400"] if "Authorization" in h} == {
        f"Basic {BASIC}"
    }
    assert all("api-key" in h for h in by_mode["echo400"] if "Authorization" not in h)
    assert {h["Authorization"] for h in by_mode["echo500"]} == {
        f"Bearer {CANARY_KEYS['LOADTEST_SECRET_KEY']}"
    }
    assert all(h["Authorization"] == f"Basic {BASIC}" for h in by_mode["ok"])
    openai_key = CANARY_KEYS["OPENAI_API_KEY"]
    for mode in ("echo400", "echo500", "ok"):  # openai-compatible servers only
        assert all(openai_key not in json.dumps(h) for h in by_mode[mode]), mode
    fail_run = next(r for r in runs if r.name.endswith("canary-fail"))
    lines = [json.loads(x) for x in (fail_run / "results.jsonl").read_text().splitlines()]
    assert {x["target"] for x in lines} == {"basic", "keyed", "azure", "hosted", "claude"}
    assert all("***" in x["detail"] for x in lines), lines  # each scrubbed of something
    profile_json = json.loads((fail_run / "profile.json").read_text())
    urls = {t["name"]: t["base_url"] for t in profile_json["targets"]}
    assert urls["basic"] == f"http://***@127.0.0.1:{echo.port}/echo400/v1"

    # Every byte written under the work directory, and everything printed.
    files = [f for f in work.rglob("*") if f.is_file()]
    assert any(f.name == "loadtest.db" or f.suffix == ".db" for f in files)
    assert len(files) > 20, files
    everything = [(str(f), f.read_bytes()) for f in files]
    everything += [(f"printed #{i}", p.encode()) for i, p in enumerate(printed)]
    for where, data in everything:
        for canary in _canaries():
            assert canary not in data, (where, canary)

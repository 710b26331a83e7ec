"""The provider registry: kinds found by scanning for PROVIDER, one file per new kind."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from loadtest.config_reader import ConfigError
from loadtest.profile import load_profile
from loadtest.providers import (
    PARSERS,
    Provider,
    anthropic,
    openai_chat,
    openai_compatible,
    openai_responses,
    registry,
)
from loadtest.providers.build import builder
from loadtest.workload import Prompt

KINDS = ("anthropic", "openai", "openai-compatible", "openai-responses")

# A whole new kind, as its one file would define it.
ACME = """
from loadtest.providers.base import ChatBody, Provider, Supports, bearer
from loadtest.providers.openai_chat import parse_events

PROVIDER = Provider(
    kind="acme",
    path="/generate",
    key_env="ACME_KEY",
    base_url_env="ACME_BASE_URL",
    default_base_url="https://api.acme.example/v2",
    auth=bearer,
    shape=ChatBody(max_tokens="max_new_tokens"),
    parse_events=parse_events,
    supports=Supports(False, False, False, True, False, False),
)
"""


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty package `acmeproviders` on sys.path, forgotten after the test."""
    root = tmp_path / "acmeproviders"
    root.mkdir()
    (root / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for name in [m for m in sys.modules if m.split(".")[0] == "acmeproviders"]:
        del sys.modules[name]


def test_the_package_has_exactly_the_four_kinds_one_module_each() -> None:
    assert registry.kinds() == KINDS
    modules = (anthropic, openai_chat, openai_compatible, openai_responses)
    assert [m.PROVIDER for m in modules] == [registry.provider(k) for k in KINDS]
    assert dict(registry.providers()) == registry.scan("loadtest.providers")
    assert {k: registry.provider(k).parse_events for k in KINDS} == PARSERS
    # the compatible kind reads streams with the Chat reader, unchanged
    assert openai_compatible.PROVIDER.parse_events is openai_chat.parse_events
    assert registry.kinds(lambda p: p.supports.stream_options) == ("openai", "openai-compatible")
    assert registry.kinds(lambda p: p.key_optional) == ("openai-compatible",)


def test_an_unknown_kind_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        registry.provider("bard")
    assert str(info.value) == ("unknown target kind 'bard': expected one of " + ", ".join(KINDS))


def test_a_new_module_is_a_new_kind(package: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (package / "acme.py").write_text(ACME)
    (package / "helpers.py").write_text("X = 1\n")  # no PROVIDER: not a kind
    found = registry.scan("acmeproviders")
    assert list(found) == ["acme"] and isinstance(found["acme"], Provider)
    # With it registered, profiles accept the kind and requests follow its Provider.
    both = {**registry.providers(), **found}
    monkeypatch.setattr(registry, "providers", lambda: both)
    assert "acme" in registry.kinds()
    profile = package / "p.toml"
    profile.write_text('[[targets]]\nkind = "acme"\nmodel = "m"\n')
    t = load_profile(profile, env={"ACME_BASE_URL": "http://127.0.0.1:9/v2"}).targets[0]
    assert (t.base_url, t.api_key_env, t.api_key_required) == (
        "http://127.0.0.1:9/v2",
        "ACME_KEY",
        True,
    )
    b = builder(t, load_profile(profile, env={}).workload, t.base_url, env={"ACME_KEY": "k"})
    assert b.url == "http://127.0.0.1:9/v2/generate" and b.headers["authorization"] == "Bearer k"
    body = orjson.loads(b.body(Prompt(({"role": "user", "content": "hi"},), 8)))
    assert body["max_new_tokens"] == 8 and "stream_options" not in body
    assert b.provider is found["acme"]


def test_two_modules_of_one_kind_or_a_stray_provider_are_errors(package: Path) -> None:
    (package / "acme.py").write_text(ACME)
    (package / "acme_again.py").write_text(ACME)
    with pytest.raises(TypeError, match="kind 'acme' is already defined"):
        registry.scan("acmeproviders")
    (package / "acme_again.py").unlink()
    (package / "stray.py").write_text("PROVIDER = 'acme'\n")
    with pytest.raises(TypeError, match="PROVIDER is a str, not a Provider"):
        registry.scan("acmeproviders")


@pytest.mark.parametrize(
    "module", ["loadtest.profile", "loadtest.providers.build", "loadtest.providers.anthropic"]
)
def test_any_module_can_be_imported_first(module: str) -> None:
    # The profile asks the registry, whose scan imports build, which names profile types:
    # an import cycle would show only in a fresh interpreter.
    code = f"import {module}, loadtest.providers.registry as r; print(len(r.kinds()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4"

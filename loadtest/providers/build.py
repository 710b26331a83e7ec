"""Building a target's streaming requests from its kind's Provider: URL, headers, JSON body.

Only what a kind needs is sent: some OpenAI-compatible servers answer an unknown field
or header with an empty 400. `ignore_eos` (vLLM's exact-length extension) goes only to
kinds that support it and to simulator targets, and only when the workload asks for it;
`stream_options` (for the usage chunk) goes to kinds that take it, unless the target
says `stream_usage = false`. A kind whose key is optional (openai-compatible) reads a
key only from an `api_key_env` its profile names: never OPENAI_API_KEY on its own, which
would hand a user's OpenAI key to a local or third-party server.
The API key is read from the environment when the run starts and lives only in the
headers of outgoing requests: never in a record, a repr, a log line or an error message.
A user and password in the base URL become an `Authorization: Basic` header (as
aiohttp would send them) and leave the URL, so no exception or detail can show them;
`secrets` lists every credential value, for the transport to scrub error details with.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from loadtest import redact
from loadtest.config_reader import ConfigError
from loadtest.judging import offer
from loadtest.providers.base import Provider
from loadtest.providers.registry import provider

if TYPE_CHECKING:  # only types: the profile asks the registry, which imports this module
    from loadtest.profile import Target
    from loadtest.workload import Prompt
    from loadtest.workload_spec import Workload

SIM_KEY = "sk-loadtest-sim"


@dataclass(frozen=True)
class RequestBuilder:
    """Everything constant about one target's requests; `body()` adds the prompt."""

    url: str
    headers: dict[str, str] = field(repr=False)  # they carry the API key
    kind: str
    base_body: dict[str, Any]
    params: dict[str, Any]  # the profile's extra fields; they win over ours
    # every credential value sent (key, URL user and password, credential headers)
    secrets: tuple[str, ...] = field(default=(), repr=False)
    provider: Provider = field(init=False, repr=False, compare=False)  # the kind's

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", provider(self.kind))

    def body(self, p: Prompt) -> bytes:
        """The JSON body for prompt P."""
        b = dict(self.base_body)
        self.provider.shape(b, p.messages, p.max_tokens)
        if p.task is not None:
            offer(self.provider.agentic, b, p.task)
        b.update(self.params)
        return orjson.dumps(b)


def builder(
    t: Target, w: Workload, base_url: str, env: Mapping[str, str] | None = None
) -> RequestBuilder:
    """The request builder of target T, with BASE_URL resolved (the simulator's for "sim").

    Raises ConfigError when the target's API key variable is unset and a key is needed."""
    environ = os.environ if env is None else env
    # Only a variable the profile names (or the kind's own, for kinds that need a key).
    key = environ.get(t.api_key_env, "") if t.api_key_env and t.api_key_required else ""
    if not key:
        if t.uses_simulator:
            key = SIM_KEY
        elif t.api_key_required:
            raise ConfigError(
                f"target {t.name}: environment variable {t.api_key_env} is not set "
                "(the API key is read from the environment only)"
            )
    p = provider(t.kind)
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    headers |= p.auth(key)
    secrets = [key, *(v for k, v in t.headers if redact.is_credential_header(k))]
    creds = redact.credentials(base_url)
    if creds is not None:
        if refusal := basic_auth_clash(t, base_url):
            raise ConfigError(refusal)
        basic = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        headers["authorization"] = f"Basic {basic}"
        # A short user name is a name, not a token: scrubbed from URLs only.
        user = creds[0] if len(creds[0]) >= 8 or not creds[1] else ""
        secrets += [basic, user, creds[1]]
        base_url = redact.strip_userinfo(base_url)
    headers |= dict(t.headers)
    body: dict[str, Any] = {"model": t.model, "stream": True}
    if t.stream_usage and p.supports.stream_options:
        body["stream_options"] = {"include_usage": True}
    if w.temperature is not None:
        body["temperature"] = w.temperature
    if w.ignore_eos and (p.supports.ignore_eos or t.uses_simulator):
        body["ignore_eos"] = True
    url = base_url.rstrip("/") + p.path
    kept = tuple(s for s in secrets if s)
    return RequestBuilder(url, headers, t.kind, body, dict(t.params), kept)


def basic_auth_clash(t: Target, base_url: str | None = None) -> str:
    """The one-line refusal of a base URL (T's, or BASE_URL) with a user and password on
    a target that sends its own Authorization header (its key's, or one in `headers`);
    "" when there is nothing to refuse. The profile refuses it when read."""
    if not redact.has_userinfo(t.base_url if base_url is None else base_url):
        return ""
    sends_key = t.api_key_required or t.uses_simulator
    keyed = sends_key and "authorization" in provider(t.kind).auth("key")
    if not keyed and not any(k.lower() == "authorization" for k, _ in t.headers):
        return ""
    return (
        f"target {t.name}: base_url carries a user and password, which are sent as HTTP "
        "Basic auth, but this target also sends an Authorization header (its API key or "
        "`headers`); put the credential in `headers` or `api_key_env`, not in the URL"
    )

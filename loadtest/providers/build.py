"""Building a target's streaming requests from its kind's Provider: URL, headers, JSON body.

Only what a kind needs is sent: some OpenAI-compatible servers answer an unknown field
or header with an empty 400. `ignore_eos` (vLLM's exact-length extension) goes only to
kinds that support it and to simulator targets, and only when the workload asks for it;
`stream_options` (for the usage chunk) goes to kinds that take it, unless the target
says `stream_usage = false`; a target whose key is optional and unset sends no key.
The API key is read from the environment when the run starts and lives only in the
headers of outgoing requests: never in a record, a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from loadtest.config_reader import ConfigError
from loadtest.providers.base import Provider
from loadtest.providers.registry import provider

if TYPE_CHECKING:  # only types: the profile asks the registry, which imports this module
    from loadtest.profile import Target, Workload
    from loadtest.workload import Prompt

SIM_KEY = "sk-loadtest-sim"


@dataclass(frozen=True)
class RequestBuilder:
    """Everything constant about one target's requests; `body()` adds the prompt."""

    url: str
    headers: dict[str, str] = field(repr=False)  # they carry the API key
    kind: str
    base_body: dict[str, Any]
    params: dict[str, Any]  # the profile's extra fields; they win over ours
    provider: Provider = field(init=False, repr=False, compare=False)  # the kind's

    def __post_init__(self) -> None:
        object.__setattr__(self, "provider", provider(self.kind))

    def body(self, p: Prompt) -> bytes:
        """The JSON body for prompt P."""
        b = dict(self.base_body)
        self.provider.shape(b, p.messages, p.max_tokens)
        b.update(self.params)
        return orjson.dumps(b)


def builder(
    t: Target, w: Workload, base_url: str, env: Mapping[str, str] | None = None
) -> RequestBuilder:
    """The request builder of target T, with BASE_URL resolved (the simulator's for "sim").

    Raises ConfigError when the target's API key variable is unset and a key is needed."""
    environ = os.environ if env is None else env
    key = environ.get(t.api_key_env, "")
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
    headers |= dict(t.headers)
    body: dict[str, Any] = {"model": t.model, "stream": True}
    if t.stream_usage and p.supports.stream_options:
        body["stream_options"] = {"include_usage": True}
    if w.temperature is not None:
        body["temperature"] = w.temperature
    if w.ignore_eos and (p.supports.ignore_eos or t.uses_simulator):
        body["ignore_eos"] = True
    return RequestBuilder(base_url.rstrip("/") + p.path, headers, t.kind, body, dict(t.params))

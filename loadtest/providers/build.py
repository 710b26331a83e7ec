"""Building each target kind's streaming request: URL, headers, JSON body.

Only what a kind needs is sent: some OpenAI-compatible servers answer an unknown field
or header with an empty 400. `ignore_eos` (vLLM's exact-length extension) goes only to
openai-compatible and simulator targets, and only when the workload asks for it;
`stream_options` (for the usage chunk) can be turned off per target with
`stream_usage = false`, and an openai-compatible target with no key configured
sends no Authorization header (local servers rarely need one).
The API key is read from the environment when the run starts and lives only in the
headers of outgoing requests: never in a record, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from loadtest.config_reader import ConfigError
from loadtest.profile import Target, Workload
from loadtest.workload import Prompt

ANTHROPIC_VERSION = "2023-06-01"
SIM_KEY = "sk-loadtest-sim"


@dataclass(frozen=True)
class RequestBuilder:
    """Everything constant about one target's requests; `body()` adds the prompt."""

    url: str
    headers: dict[str, str]
    kind: str
    base_body: dict[str, Any]
    params: dict[str, Any]  # the profile's extra fields; they win over ours

    def body(self, p: Prompt) -> bytes:
        """The JSON body for prompt P."""
        b = dict(self.base_body)
        messages = list(p.messages)
        if self.kind == "anthropic":
            system = [m["content"] for m in messages if m.get("role") == "system"]
            if system:
                b["system"] = "\n".join(str(s) for s in system)
            b["messages"] = [m for m in messages if m.get("role") != "system"]
            b["max_tokens"] = p.max_tokens
        elif self.kind == "openai-responses":
            system = [m["content"] for m in messages if m.get("role") == "system"]
            if system:
                b["instructions"] = "\n".join(str(s) for s in system)
            b["input"] = [m for m in messages if m.get("role") != "system"]
            b["max_output_tokens"] = max(16, p.max_tokens)
        else:
            b["messages"] = messages
            b["max_completion_tokens" if self.kind == "openai" else "max_tokens"] = p.max_tokens
        b.update(self.params)
        return orjson.dumps(b)


def builder(
    t: Target, w: Workload, base_url: str, env: Mapping[str, str] | None = None
) -> RequestBuilder:
    """The request builder of target T, with BASE_URL resolved (the simulator's for "sim")."""
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
    base = base_url.rstrip("/")
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    body: dict[str, Any] = {"model": t.model, "stream": True}
    if t.kind == "anthropic":
        url = base + "/v1/messages"
        headers |= {"x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}
    else:
        if key:
            headers["authorization"] = f"Bearer {key}"
        if t.kind == "openai-responses":
            url = base + "/responses"
        else:
            url = base + "/chat/completions"
            if t.stream_usage:
                body["stream_options"] = {"include_usage": True}
    if w.temperature is not None:
        body["temperature"] = w.temperature
    if w.ignore_eos and (t.kind == "openai-compatible" or t.uses_simulator):
        body["ignore_eos"] = True
    headers |= dict(t.headers)
    return RequestBuilder(url, headers, t.kind, body, dict(t.params))

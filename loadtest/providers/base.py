"""What one target kind knows, as one value: a `Provider` (the registry finds them).

A kind differs from another in data (a path, two environment variables, a default base
URL, field names, capabilities) and in three small functions (auth headers from a key,
where a prompt goes in the body, how the stream is read). So a Provider is a frozen
value holding both, one per module (`providers/<kind>.py`), not a class to subclass:
callers read its fields and call its functions, and nothing branches on the kind name.

The API key is passed to `auth` and goes into the headers it returns; a Provider holds
no key, so its repr cannot show one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loadtest.providers.reading import Reading
from loadtest.providers.tool_shapes import CHAT_TOOLS, Agentic
from loadtest.sse import Event

# Reads the events of one network read into a Reading, stopping at an error. Batched per
# read because this is the per-event hot path: a call per event is measurable.
EventParser = Callable[[list[Event], Reading], None]

Messages = tuple[dict[str, Any], ...]

# Adds one prompt (its chat messages, its output length) to a copy of the constant body.
# Runs once per request, so it does only the prompt's part; the rest is built once.
BodyShape = Callable[[dict[str, Any], Messages, int], None]

# The headers that authenticate with KEY; KEY is "" when none is configured (a keyless
# openai-compatible server).
Auth = Callable[[str], dict[str, str]]


@dataclass(frozen=True, slots=True)
class Supports:
    """What a kind's API can do, for features that must ask before sending something."""

    tools: bool  # function tools in the request, tool-call deltas in the stream
    structured_output: bool  # a JSON-schema output format in the body
    reasoning: bool  # the stream can carry reasoning (thinking) content
    usage_in_stream: bool  # the stream can report token usage
    stream_options: bool  # usage is asked for with stream_options (`stream_usage` applies)
    ignore_eos: bool  # vLLM's exact-length extension is accepted


@dataclass(frozen=True, slots=True)
class Provider:
    """Everything one target kind knows: where to send, how to authenticate and shape the
    body, how to read the stream, which variables configure it and what it supports."""

    kind: str  # as profiles name it
    path: str  # appended to the base URL
    key_env: str  # the API key's default environment variable ("" for none)
    base_url_env: str  # overrides default_base_url when set
    default_base_url: str
    auth: Auth
    shape: BodyShape
    parse_events: EventParser
    supports: Supports
    # Without an explicit api_key_env no key is sent, and none is needed (local servers
    # rarely need one); with one, its variable must be set.
    key_optional: bool = False
    # Where the built-in simulator serves this API, under its root: the base URL of a
    # target with base_url = "sim" (OpenAI's SDKs put /v1 in the base URL, Anthropic's not).
    sim_prefix: str = "/v1"
    # How it takes tools and a JSON-schema output, and hears back from a tool.
    agentic: Agentic = CHAT_TOOLS


def bearer(key: str) -> dict[str, str]:
    """An OpenAI-style Authorization header, or none without a key."""
    return {"authorization": f"Bearer {key}"} if key else {}


@dataclass(frozen=True, slots=True)
class ChatBody:
    """Chat Completions: the messages as they are, system messages included."""

    max_tokens: str  # the name of the output-length field

    def __call__(self, body: dict[str, Any], messages: Messages, max_tokens: int) -> None:
        """Add MESSAGES and MAX_TOKENS to BODY."""
        body["messages"] = list(messages)
        body[self.max_tokens] = max_tokens


@dataclass(frozen=True, slots=True)
class SplitSystemBody:
    """APIs with a separate system field: system messages joined into it, the rest listed."""

    messages: str  # where the non-system messages go
    system: str  # where the system messages go, joined by newlines
    max_tokens: str
    min_max_tokens: int = 0  # the API refuses smaller output lengths (0: no minimum)

    def __call__(self, body: dict[str, Any], messages: Messages, max_tokens: int) -> None:
        """Add MESSAGES and MAX_TOKENS to BODY."""
        system = [m["content"] for m in messages if m.get("role") == "system"]
        if system:
            body[self.system] = "\n".join(str(s) for s in system)
        body[self.messages] = [m for m in messages if m.get("role") != "system"]
        body[self.max_tokens] = max(self.min_max_tokens, max_tokens)

"""OpenAI-compatible servers (kind "openai-compatible"): vLLM, SGLang, llama.cpp, Ollama, TGI.

They speak Chat Completions, and their streams are read by the Chat reader, which
handles how they differ from OpenAI (see openai_chat). What differs in the request:
`max_tokens` (not every server knows max_completion_tokens), `ignore_eos` when the
workload asks for exact lengths, and no key needed unless `api_key_env` names one.
"""

from __future__ import annotations

from loadtest.providers.base import ChatBody, Provider, Supports, bearer
from loadtest.providers.openai_chat import parse_events

PROVIDER = Provider(
    kind="openai-compatible",
    path="/chat/completions",
    key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    default_base_url="https://api.openai.com/v1",
    auth=bearer,
    shape=ChatBody(max_tokens="max_tokens"),
    parse_events=parse_events,
    # what vLLM supports; other servers vary (stream_usage = false for those that
    # refuse stream_options)
    supports=Supports(
        tools=True,
        structured_output=True,
        reasoning=True,
        usage_in_stream=True,
        stream_options=True,
        ignore_eos=True,
    ),
    key_optional=True,
)

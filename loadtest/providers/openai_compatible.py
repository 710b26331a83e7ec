"""OpenAI-compatible servers (kind "openai-compatible"): vLLM, SGLang, llama.cpp, Ollama, TGI.

They speak Chat Completions, and their streams are read by the Chat reader, which
handles how they differ from OpenAI (see openai_chat). What differs in the request:
`max_tokens` (not every server knows max_completion_tokens), `ignore_eos` when the
workload asks for exact lengths, and no key needed unless `api_key_env` names one.
"""

from __future__ import annotations

import dataclasses

from loadtest.providers import openai_chat
from loadtest.providers.base import ChatBody

# Chat Completions as OpenAI's, but what vLLM supports; other servers vary
# (stream_usage = false for those that refuse stream_options).
PROVIDER = dataclasses.replace(
    openai_chat.PROVIDER,
    kind="openai-compatible",
    shape=ChatBody(max_tokens="max_tokens"),
    supports=dataclasses.replace(openai_chat.PROVIDER.supports, reasoning=True, ignore_eos=True),
    key_optional=True,
)

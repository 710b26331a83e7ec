"""OpenAI-compatible servers (kind "openai-compatible"): vLLM, SGLang, llama.cpp, Ollama, TGI.

They speak Chat Completions, and their streams are read by the Chat reader, which
handles how they differ from OpenAI (see openai_chat). What differs in the request:
`max_tokens` (not every server knows max_completion_tokens), `ignore_eos` when the
workload asks for exact lengths, and no key unless `api_key_env` names one: such a
server gets no OPENAI_API_KEY (the user's OpenAI key) just because it is set.
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
    key_env="",  # none: only a variable the profile names
    shape=ChatBody(max_tokens="max_tokens"),
    supports=dataclasses.replace(openai_chat.PROVIDER.supports, reasoning=True, ignore_eos=True),
    key_optional=True,
)

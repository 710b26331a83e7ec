"""What a conversation says, for the three APIs: the text of its first user message (what
the simulator knows a task by) and its tool results in order, with tool calls and their
results checked as the real APIs check them (a BadRequest naming the field)."""

from __future__ import annotations

from typing import Any


class BadRequest(Exception):
    """A 400: PARAM names the offending field (as the providers' error bodies do)."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


def content_text(content: Any) -> str:
    """A message's text: its content as a string, or the text parts of a list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def chat(messages: list[Any]) -> tuple[str, tuple[str, ...]]:
    """(first user text, tool results) of a Chat Completions conversation."""
    prompt, results = "", []
    pending: list[str] = []  # the last assistant message's call ids still unanswered
    for i, m in enumerate(messages):
        role = m["role"]
        if role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str):
                where = f"messages[{i}].tool_call_id"
                raise BadRequest(where, f"Missing required parameter: '{where}'.")
            if call_id not in pending:
                raise BadRequest(
                    f"messages[{i}].role",
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceding message with 'tool_calls'.",
                )
            content = m.get("content")
            if not isinstance(content, str | list):
                raise BadRequest(f"messages[{i}].content", f"'messages[{i}].content' is required.")
            pending.remove(call_id)
            results.append(content_text(content))
            continue
        if pending:
            raise BadRequest(
                f"messages[{i}].role",
                "An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not "
                f"have response messages: {', '.join(pending)}",
            )
        if role == "assistant" and m.get("tool_calls") is not None:
            pending = _chat_calls(m["tool_calls"], f"messages[{i}].tool_calls")
        elif role == "user" and not prompt:
            prompt = content_text(m.get("content"))
    if pending:
        raise BadRequest(
            "messages",
            "An assistant message with 'tool_calls' must be followed by tool messages "
            f"responding to each 'tool_call_id': {', '.join(pending)} have none.",
        )
    return prompt, tuple(results)


def _chat_calls(calls: Any, where: str) -> list[str]:
    if not isinstance(calls, list):
        raise BadRequest(where, f"'{where}' must be an array.")
    ids = []
    for j, call in enumerate(calls):
        at = f"{where}[{j}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(call, dict) or not isinstance(call.get("id"), str):
            raise BadRequest(f"{at}.id", f"Missing required parameter: '{at}.id'.")
        if call.get("type", "function") != "function":
            raise BadRequest(f"{at}.type", f"Invalid value: '{call.get('type')}'.")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(
                f"{at}.function.name", f"Missing required parameter: '{at}.function.name'."
            )
        if not isinstance(fn.get("arguments"), str):
            raise BadRequest(
                f"{at}.function.arguments",
                f"Invalid type for '{at}.function.arguments': expected a string.",
            )
        ids.append(call["id"])
    return ids


def responses(items: list[Any]) -> tuple[str, tuple[str, ...]]:
    """(first user text, tool results) of a Responses API input list."""
    prompt, results, calls = "", [], set()
    for i, item in enumerate(items):
        if isinstance(item, str):  # the whole input given as one string
            prompt = prompt or item
            continue
        if not isinstance(item, dict):
            raise BadRequest(f"input[{i}]", f"Invalid type for 'input[{i}]': expected an object.")
        kind = item.get("type")
        if kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise BadRequest(
                        f"input[{i}].{key}", f"Missing required parameter: 'input[{i}].{key}'."
                    )
            calls.add(item["call_id"])
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise BadRequest(
                    f"input[{i}].call_id", f"Missing required parameter: 'input[{i}].call_id'."
                )
            if call_id not in calls:
                raise BadRequest(
                    f"input[{i}].call_id",
                    f"No tool call found for function call output with call_id {call_id}.",
                )
            if not isinstance(item.get("output"), str | list):
                raise BadRequest(
                    f"input[{i}].output", f"Missing required parameter: 'input[{i}].output'."
                )
            results.append(content_text(item["output"]))
        elif kind in (None, "message") and item.get("role") == "user" and not prompt:
            prompt = content_text(item.get("content"))
    return prompt, tuple(results)


def messages(msgs: list[Any]) -> tuple[str, tuple[str, ...]]:
    """(first user text, tool results) of a Messages API conversation."""
    prompt, results = "", []
    uses: set[str] = set()  # tool_use ids of the message before
    for i, m in enumerate(msgs):
        content = m.get("content")
        blocks = content if isinstance(content, list) else []
        here: set[str] = set()
        answered: set[str] = set()
        for j, block in enumerate(blocks):
            kind = block.get("type") if isinstance(block, dict) else None
            at = f"messages.{i}.content.{j}"
            if kind == "tool_use":
                if m["role"] != "assistant":
                    raise BadRequest(
                        f"{at}.type", f"{at}: tool_use blocks belong to assistant turns"
                    )
                if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                    raise BadRequest(f"{at}.id", f"{at}.tool_use.id: Field required")
                if not isinstance(block.get("input"), dict):
                    raise BadRequest(
                        f"{at}.input", f"{at}.tool_use.input: Input should be a valid dictionary"
                    )
                here.add(block["id"])
            elif kind == "tool_result":
                use_id = block.get("tool_use_id")
                if use_id not in uses:
                    raise BadRequest(
                        f"{at}.tool_use_id",
                        f"{at}: unexpected `tool_use_id` found in `tool_result` blocks: "
                        f"{use_id}. Each `tool_result` block must have a corresponding "
                        "`tool_use` block in the previous message.",
                    )
                answered.add(use_id)
                results.append(content_text(block.get("content", "")))
        if uses - answered:
            raise BadRequest(
                f"messages.{i}",
                f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(sorted(uses - answered))}. Each `tool_use` "
                "block must have a corresponding `tool_result` block in the next message.",
            )
        if m["role"] == "user" and not prompt and not answered:
            prompt = content_text(content)
        uses = here
    return prompt, tuple(results)

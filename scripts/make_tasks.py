#!/usr/bin/env python3
"""Write the shipped task files (profiles/tasks/*.jsonl) from templates, deterministically:
`python scripts/make_tasks.py` rewrites them; tests/test_validators.py checks they load.

Each line: {"id", "tools" (a set of loadtest.toolsets), "messages", "expect": {"tool",
"arguments": {name: check}}, "underspecified"}. Underspecified tasks leave out what the
call needs (a recipient, a path): an answer that invents it fails with wrong_arguments,
one that asks for it is a refusal.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "profiles" / "tasks"
CITIES = ["Lisbon", "Osaka", "Denver", "Nairobi", "Oslo", "Lima", "Hanoi", "Austin"]
DATASETS = ["invoices", "orders", "customers", "tickets"]
STATUSES = ["open", "paid", "overdue", "closed"]
PEOPLE = ["ana@example.com", "raj@example.com", "#ops", "#billing", "li@example.com"]
FILES = ["notes/q3.md", "reports/summary.txt", "todo.md", "drafts/reply.txt"]


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def five(rng: random.Random, i: int) -> dict[str, object]:
    kind = i % 5
    if kind == 0:
        city = rng.choice(CITIES)
        return {
            "messages": user(f"What is the weather forecast for {city} this weekend?"),
            "expect": {"tool": "search", "arguments": {"query": {"contains": city}}},
        }
    if kind == 1:
        a, b, c = rng.randint(12, 999), rng.randint(2, 40), rng.randint(1, 500)
        return {
            "messages": user(f"What is {a} times {b} plus {c}? Use the calculator."),
            "expect": {"tool": "calculate", "arguments": {"expression": {"contains": str(a)}}},
        }
    if kind == 2:
        ds, st = rng.choice(DATASETS), rng.choice(STATUSES)
        day = f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}"
        return {
            "messages": user(f"Get the {ds} with status {st} since {day}."),
            "expect": {
                "tool": "fetch_data",
                "arguments": {"dataset": {"equals": ds}, "filters": {"present": True}},
            },
        }
    if kind == 3:
        path, word = rng.choice(FILES), rng.choice(["ship it", "call back", "ok to merge"])
        return {
            "messages": user(f"Save the text '{word}' to {path}."),
            "expect": {
                "tool": "write_file",
                "arguments": {"path": {"equals": path}, "content": {"contains": word}},
            },
        }
    who = rng.choice(PEOPLE)
    return {
        "messages": user(f"Tell {who} that the deploy finished."),
        "expect": {"tool": "notify", "arguments": {"recipient": {"equals": who}}},
    }


UNDERSPECIFIED = [
    ("Send the quarterly summary to the team.", "notify", "recipient"),
    ("Let the customer know their refund went through.", "notify", "recipient"),
    ("Write these meeting notes down somewhere.", "write_file", "path"),
    ("Save the draft reply for later.", "write_file", "path"),
]


def overlapping(rng: random.Random, i: int) -> dict[str, object]:
    internal = [
        "What does our travel policy say about per diem in {c}?",
        "How many vacation days do new hires get, per the handbook?",
        "Find our internal runbook for rotating database credentials.",
    ]
    public = [
        "What is the latest news about the port strike in {c}?",
        "What is the population of {c} according to recent estimates?",
        "Find reviews of the new train line in {c}.",
    ]
    city = rng.choice(CITIES)
    if i % 2 == 0:
        text, tool = rng.choice(internal).format(c=city), "search_knowledge_base"
    else:
        text, tool = rng.choice(public).format(c=city), "search_web"
    return {
        "messages": user(text),
        "expect": {"tool": tool, "arguments": {"query": {"present": True}}},
    }


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = random.Random(13)
    lines = []
    for i in range(100):
        task = {"id": f"five-{i + 1:03d}", "tools": "five", **five(rng, i), "underspecified": False}
        lines.append(task)
    for k, (text, tool, missing) in enumerate(UNDERSPECIFIED * 4):
        lines.append(
            {
                "id": f"five-u{k + 1:02d}",
                "tools": "five",
                "messages": user(text),
                "expect": {"tool": tool, "arguments": {missing: {"from_prompt": True}}},
                "underspecified": True,
            }
        )
    (OUT / "agent-tools.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    rng = random.Random(14)
    over = [
        {
            "id": f"overlap-{i + 1:03d}",
            "tools": "overlapping",
            **overlapping(rng, i),
            "underspecified": False,
        }
        for i in range(100)
    ]
    (OUT / "overlapping-tools.jsonl").write_text("".join(json.dumps(x) + "\n" for x in over))
    print(f"wrote {len(lines)} + {len(over)} tasks to {OUT}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write the shipped task files (profiles/tasks/*.jsonl) from templates, deterministically:
`python scripts/make_tasks.py` rewrites them; tests/test_validators.py checks they load.

Four files, their formats in loadtest/tasks.py: tool tasks (agent-tools: the five-tool
schema, 116 tasks, 16 underspecified; overlapping-tools: 100 tasks on the two search
tools that overlap), extraction tasks (extraction: 100, 10 underspecified) and agent
tasks (agent-tasks: 70, from one to seven steps). Underspecified tasks leave out what
the answer needs (a recipient, a path, a due date): an answer that invents it fails with
wrong_arguments, one that asks for it does the task (loadtest.judging).
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


INVOICE = {
    "type": "object",
    "properties": {
        "vendor": {"type": "string"},
        "total": {"type": "number"},
        "currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"]},
        "due_date": {"type": ["string", "null"], "description": "ISO date, null if not given"},
    },
    "required": ["vendor", "total", "currency", "due_date"],
    "additionalProperties": False,
}
CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "email": {"type": "string"},
        "company": {"type": ["string", "null"]},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
            "required": ["city", "country"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "email", "company", "address"],
    "additionalProperties": False,
}
TICKET = {
    "type": "object",
    "properties": {
        "priority": {"type": "string", "enum": ["low", "normal", "high", "urgent"]},
        "category": {"type": "string", "enum": ["billing", "outage", "account", "other"]},
        "summary": {"type": "string"},
    },
    "required": ["priority", "category", "summary"],
    "additionalProperties": False,
}
VENDORS = ["Acme GmbH", "Globex", "Initech", "Umbrella Ltd", "Stark Supply", "Wayne Parts"]
NAMES = ["Ana Souza", "Raj Patel", "Li Wei", "Maria Rossi", "Tom Berg", "Aiko Tanaka"]
COUNTRIES = {"Lisbon": "Portugal", "Osaka": "Japan", "Denver": "USA", "Oslo": "Norway"}


def extraction(rng: random.Random, i: int) -> dict[str, object]:
    kind = i % 3
    if kind == 0:
        vendor, cur = rng.choice(VENDORS), rng.choice(["USD", "EUR", "GBP"])
        total = round(rng.uniform(100, 9000), 2)
        day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        under = i % 8 == 0
        due = "" if under else f" Payment is due by {day}."
        text = f"Invoice from {vendor}: total {total:,.2f} {cur}.{due} Extract the invoice."
        fields = {
            "vendor": {"equals": vendor},
            "total": {"close_to": [total, 0.01]},
            "currency": {"equals": cur},
            "due_date": {"equals": None} if under else {"equals": day},
        }
        return {"messages": user(text), "schema": INVOICE, "fields": fields, "under": under}
    if kind == 1:
        name, city = rng.choice(NAMES), rng.choice(list(COUNTRIES))
        email = name.split()[0].lower() + "@example.com"
        under = i % 8 == 1
        company = "" if under else f" of {rng.choice(VENDORS)}"
        text = f"Add this contact: {name}{company}, {email}, based in {city}."
        fields = {
            "name": {"equals": name},
            "email": {"equals": email},
            "company": {"equals": None} if under else {"present": True},
            "address": {"present": True},
        }
        return {"messages": user(text), "schema": CONTACT, "fields": fields, "under": under}
    pri, cat = rng.choice(["low", "normal", "high", "urgent"]), rng.choice(["billing", "outage"])
    what = {"billing": "we were charged twice", "outage": "the dashboard is down"}[cat]
    text = f"Classify this ticket ({pri} priority): {what} since this morning."
    fields = {"priority": {"equals": pri}, "category": {"equals": cat}}
    return {"messages": user(text), "schema": TICKET, "fields": fields, "under": False}


def agent(rng: random.Random, i: int) -> dict[str, object]:
    """A chain of one to seven calls: fetch, compute, write, tell; each result scripted."""
    depth = 1 + i % 7
    ds, who = rng.choice(DATASETS), rng.choice(PEOPLE)
    amounts = [rng.randint(100, 4000) for _ in range(rng.randint(2, 4))]
    total = sum(amounts)
    path = rng.choice(FILES)
    steps: list[dict[str, object]] = [
        {
            "expect": {"tool": "fetch_data", "arguments": {"dataset": {"equals": ds}}},
            "result": {"records": [{"id": k + 1, "amount": a} for k, a in enumerate(amounts)]},
        },
        {
            "expect": {
                "tool": "calculate",
                "arguments": {"expression": {"contains": str(amounts[0])}},
            },
            "result": {"value": total},
        },
        {
            "expect": {"tool": "write_file", "arguments": {"path": {"equals": path}}},
            "result": {"written": True},
        },
        {
            "expect": {"tool": "notify", "arguments": {"recipient": {"equals": who}}},
            "result": {"sent": True},
        },
        {
            "expect": {"tool": "search", "arguments": {"query": {"contains": ds}}},
            "result": {"results": [{"title": f"How to reconcile {ds}", "url": "kb://1"}]},
        },
        {
            "expect": {"tool": "fetch_data", "arguments": {"dataset": {"equals": "customers"}}},
            "result": {"records": [{"id": 7, "name": "Globex"}]},
        },
        {
            "expect": {"tool": "notify", "arguments": {"recipient": {"equals": "#ops"}}},
            "result": {"sent": True},
        },
    ][:depth]
    asks = [
        f"fetch the {ds}",
        "add up their amounts with the calculator",
        f"write the total to {path}",
        f"tell {who} the total",
        f"search for how to reconcile {ds}",
        "fetch the customers",
        "and let #ops know it is done",
    ][:depth]
    text = "Step by step: " + ", then ".join(asks) + ". Answer with the total when done."
    final = {"contains": str(total)} if depth >= 2 else {"present": True}
    return {"messages": user(text), "steps": steps, "final": final}


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
    rng = random.Random(15)
    ext = []
    for i in range(100):
        e = extraction(rng, i)
        under = e.pop("under")
        ext.append({"id": f"extract-{i + 1:03d}", **e, "underspecified": under})
    (OUT / "extraction.jsonl").write_text("".join(json.dumps(x) + "\n" for x in ext))
    rng = random.Random(16)
    chains = [
        {"id": f"agent-{i + 1:03d}", "tools": "five", **agent(rng, i), "underspecified": False}
        for i in range(70)
    ]
    (OUT / "agent-tasks.jsonl").write_text("".join(json.dumps(x) + "\n" for x in chains))
    print(f"wrote {len(lines)} + {len(over)} + {len(ext)} + {len(chains)} tasks to {OUT}")


if __name__ == "__main__":
    main()

"""Answers that are judged as meant: arguments and extractions that pass a task's checks
(loadtest.validators.check_value) and its JSON schema, and ones that fail in exactly one
outcome's way (pure).

A right value comes from the check (equals: the value, contains: a phrase of the prompt
holding it, one_of: a member, close_to: the number, present: a schema-valid value,
from_prompt: a value the prompt names, absent: left out), else from the prompt (the
word after the property's name, a date, an enum member it mentions), else made up.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import Any

import orjson

from loadtest.validators import check_value

MISSING = object()  # an argument left out
Schema = Mapping[str, Any]
Checks = Mapping[str, Mapping[str, Any]]

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# What a prompt names as a recipient or a place: an address, a channel, a path.
_NAMED = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|#[\w-]+|\b[\w-]+(?:/[\w.-]+)+|\b[\w-]+\.(?:md|txt)\b")
_FILLERS = ("Berlin", "Q3 report", "invoice-1042", "Tokyo", "the latest figures")
# Stand-ins a model invents for what the prompt left out: shaped like the real thing.
_INVENTED = {
    "@": ("team@example.com", "support@example.com"),
    "/": ("notes/meeting-notes.md", "drafts/later.txt"),
    "date": ("2026-06-30", "2026-12-31"),
    "": ("Acme Corp", "the customer", "general"),
}
_OFF_TOPIC = ("latest update", "summary of the results", "12 * 7", "general question")


def _kind(spec: Schema) -> str:
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return str(kind)


def _nullable(spec: Schema) -> bool:
    kind = spec.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _after(prompt: str, name: str) -> str | None:
    """The word right after NAME in the prompt ('status paid' -> 'paid')."""
    m = re.search(rf"\b{re.escape(name)}\s+([\w@#./:-]+)", prompt, re.IGNORECASE)
    return m.group(1).rstrip(".,:;") if m else None


def from_prompt(prompt: str, name: str) -> str | None:
    """A value for NAME that the prompt itself gives, or None when it gives none."""
    m = _NAMED.search(prompt)
    return m.group(0).rstrip(".") if m else _after(prompt, name)


def phrase(prompt: str, want: str) -> str:
    """A few words of PROMPT around WANT (WANT itself when the prompt lacks it)."""
    at = prompt.lower().find(want.lower())
    if at < 0:
        return want
    words_before = prompt[:at].split()[-3:]
    words_after = prompt[at + len(want) :].split()[:3]
    text = " ".join([*words_before, prompt[at : at + len(want)], *words_after])
    return text.strip(" .?!,'\"") if want.lower() in text.strip(" .?!,'\"").lower() else text


def sample(spec: Schema, prompt: str, name: str, rng: random.Random) -> Any:
    """A schema-valid value for property NAME, taken from the prompt where it can be."""
    if spec.get("enum"):
        named = [v for v in spec["enum"] if isinstance(v, str) and v.lower() in prompt.lower()]
        return named[0] if named else rng.choice(list(spec["enum"]))
    kind = _kind(spec)
    if kind == "integer":
        lo = int(spec.get("minimum", 1))
        return rng.randint(lo, min(int(spec.get("maximum", lo + 19)), lo + 19))
    if kind == "number":
        return round(rng.uniform(1, 100), 2)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        return [sample(spec.get("items") or {}, prompt, name, rng)]
    if kind == "object":
        return sample_object(spec, prompt, rng)
    found = _after(prompt, name)
    if "date" in str(spec.get("description", "")).lower():
        m = _DATE.search(found or "") or _DATE.search(prompt)
        return m.group(0) if m else "2026-01-15"
    return found or rng.choice(_FILLERS)


def sample_object(spec: Schema, prompt: str, rng: random.Random) -> dict[str, Any]:
    """An object of the required properties and those the prompt names (one at least)."""
    props: Mapping[str, Schema] = spec.get("properties") or {}
    required = set(spec.get("required") or ())
    named = {n for n in props if _after(prompt, n) is not None}
    keep = [n for n in props if n in required or n in named] or list(props)[:1]
    return {n: sample(props[n], prompt, n, rng) for n in keep}


def good_value(
    check: Mapping[str, Any], spec: Schema, prompt: str, name: str, rng: random.Random
) -> Any:
    """A value that passes CHECK and the property's schema SPEC (MISSING: leave it out)."""
    if "absent" in check:
        return MISSING
    if "equals" in check:
        return check["equals"]
    if "one_of" in check:
        return rng.choice(list(check["one_of"]))
    if "close_to" in check:
        target = float(check["close_to"][0])
        return int(target) if _kind(spec) == "integer" and target.is_integer() else target
    if "contains" in check:
        want = str(check["contains"])
        return phrase(prompt, want) if _kind(spec) == "string" else check["contains"]
    if check.get("from_prompt"):
        found = from_prompt(prompt, name)
        return found if found is not None else sample(spec, prompt, name, rng)
    return sample(spec, prompt, name, rng)


def good_arguments(
    schema: Schema, checks: Checks, prompt: str, rng: random.Random
) -> dict[str, Any]:
    """Arguments (or an extraction) that pass every check and the schema."""
    props: Mapping[str, Schema] = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or ():
        if name not in checks:
            out[name] = sample(props.get(name) or {}, prompt, name, rng)
    for name, check in checks.items():
        value = good_value(check, props.get(name) or {}, prompt, name, rng)
        if value is not MISSING:
            out[name] = value
    return {n: out[n] for n in [*props, *out] if n in out}  # in the schema's order


def _invented(spec: Schema, prompt: str, name: str, rng: random.Random) -> Any:
    """A plausible value that the prompt never says (what a model makes up)."""
    if "date" in f"{name} {spec.get('description', '')}".lower():
        shape = "date"
    else:
        shape = next((k for k in ("@", "/") if k in name or _shape_hint(name) == k), "")
    for value in _INVENTED[shape]:
        if value.lower() not in prompt.lower():
            return value
    return f"{name}-{rng.randint(100, 999)}"


def _shape_hint(name: str) -> str:
    return {"recipient": "@", "email": "@", "path": "/", "file": "/"}.get(name, "")


def _broken(
    check: Mapping[str, Any], spec: Schema, value: Any, prompt: str, name: str, rng: random.Random
) -> Any:
    """A schema-valid value for NAME that fails CHECK (MISSING: leave it out)."""
    out = _unchecked_broken(check, spec, value, prompt, name, rng)
    if isinstance(out, str) and check_value(out, check, prompt):
        return f"{out} (old)"  # an invented value that happened to be the right one
    return out


def _unchecked_broken(
    check: Mapping[str, Any], spec: Schema, value: Any, prompt: str, name: str, rng: random.Random
) -> Any:
    if "absent" in check:
        return sample(spec, prompt, name, rng)
    if "present" in check and len(check) == 1:
        return MISSING
    kind, enum = _kind(spec), spec.get("enum")
    if enum:
        others = [v for v in enum if not check_value(v, check, prompt)]
        return rng.choice(others) if others else None
    if (
        kind in ("number", "integer")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        bumped = value * 1.1 + 10
        return round(bumped) if kind == "integer" else round(bumped, 2)
    if "contains" in check:
        return next(t for t in _OFF_TOPIC if str(check["contains"]).lower() not in t)
    if "equals" in check and check["equals"] is None and kind == "string":
        return _invented(spec, prompt, name, rng)
    if kind == "string":
        return _invented(spec, prompt, name, rng)
    return None


def breakable(check: Mapping[str, Any], spec: Schema, required: bool) -> bool:
    """Whether CHECK can fail while its value stays schema-valid."""
    if "absent" in check:
        return True
    if "present" in check and len(check) == 1:
        return not required
    enum = spec.get("enum")
    if enum:
        return any(not check_value(v, check, "") for v in enum)
    return _kind(spec) in ("string", "number", "integer")


def failable(schema: Schema, checks: Checks) -> bool:
    """Whether any of CHECKS can fail while the answer stays schema-valid."""
    props: Mapping[str, Schema] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    return any(breakable(c, props.get(n) or {}, n in required) for n, c in checks.items())


def wrong_arguments(
    good: dict[str, Any],
    schema: Schema,
    checks: Checks,
    prompt: str,
    rng: random.Random,
    *,
    prefer: str = "",
) -> dict[str, Any]:
    """GOOD with one checked value wrong (PREFER's, when it can be), still schema-valid."""
    props: Mapping[str, Schema] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    names = [n for n, c in checks.items() if breakable(c, props.get(n) or {}, n in required)]
    if not names:
        return good
    name = prefer if prefer in names else rng.choice(names)
    value = _broken(checks[name], props.get(name) or {}, good.get(name), prompt, name, rng)
    out = dict(good)
    if value is MISSING:
        out.pop(name, None)
    else:
        out[name] = value
    return out


def invented(
    good: dict[str, Any], schema: Schema, checks: Checks, prompt: str, rng: random.Random
) -> dict[str, Any]:
    """GOOD with what an underspecified task left out made up: the arguments it must take
    from the prompt, or the fields it must leave null."""
    props: Mapping[str, Schema] = schema.get("properties") or {}
    out = dict(good)
    for name, check in checks.items():
        if check.get("from_prompt") or ("equals" in check and check["equals"] is None):
            out[name] = _invented(props.get(name) or {}, prompt, name, rng)
    return out


def schema_violation(
    good: dict[str, Any], schema: Schema, rng: random.Random, *, nested: bool
) -> dict[str, Any]:
    """GOOD broken against SCHEMA: a nested object flattened to a string when NESTED,
    else a property the schema does not allow, or a required one of the wrong type."""
    out = dict(good)
    objects = [n for n, v in good.items() if isinstance(v, dict)]
    if nested and objects:
        name = rng.choice(objects)
        out[name] = ", ".join(f"{k} {v}" for k, v in good[name].items()) or name
        return out
    if schema.get("additionalProperties") is False:
        out["note"] = "see above"
        return out
    props: Mapping[str, Schema] = schema.get("properties") or {}
    for name in schema.get("required") or list(props):
        out[name] = 42 if _kind(props.get(name) or {}) == "string" else "unknown"
        return out
    return out


def invalid_json(good: dict[str, Any]) -> str:
    """GOOD's JSON text cut off before its closing brace, as a model stopping early sends."""
    return orjson.dumps(good).decode()[:-1] + ","


def nests(value: dict[str, Any]) -> bool:
    """Whether an answer holds a nested object (where small models slip, per the article)."""
    return any(isinstance(v, dict) for v in value.values())

"""Keeping credentials out of what is written: URLs without their user and password,
error details without the keys in use or the credential headers a server echoed.

Pure string functions: the callers that write something (profile.json, summary.json,
the store, results.jsonl's details) pass what they write through them. Some servers
(proxies, debugging gateways, a few OpenAI-compatible servers) echo the request's
headers in an error body; the transport keeps up to 200 characters of that body, so
a detail is scrubbed before it is cut, and a secret already cut short at the end of
a text is dropped too.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "***"

# Header names whose values are credentials, as a server may echo them: header lines
# (`Authorization: Bearer ...`), JSON or Python mappings (`"x-api-key": "..."`), CGI
# names (`HTTP_AUTHORIZATION=...`), escaped JSON inside a JSON string (`\"api-key\": ...`).
CREDENTIAL_HEADERS = (
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
)

_NAME = r"(?:proxy[-_])?authorization|(?:x[-_])?(?:goog[-_])?api[-_]key|cookie"
_HEADER = re.compile(
    rf"(?P<head>(?:{_NAME})\\?[\"']?\s*[:=]\s*)"
    r"(?P<value>\\\"(?:[^\\]|\\[^\"])*?\\\"|\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\r\n,;}&]*)",
    re.IGNORECASE,
)
# A token has a digit: "Bearer authentication required" is left as it is.
_BEARER = re.compile(r"\b(?P<scheme>Bearer)\s+(?=\S*\d)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)
# user:password@ (or user@) in any URL written inside a text
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#\s\"']*@")
_SHORTEST_PARTIAL = 4  # a shorter tail of a cut secret reveals nothing


def is_http_url(u: str) -> bool:
    """Whether U is an http(s) URL with a host and a numeric port if any: then url() finds
    its user and password (an unencoded "/" in a password would move the host)."""
    if not u.startswith(("http://", "https://")):
        return False
    try:
        parts = urllib.parse.urlsplit(u)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    return bool(parts.hostname)


def profile(d: dict[str, Any]) -> dict[str, Any]:
    """A profile as written (profile.json, `validate`; the dict of dataclasses.asdict):
    base and metrics URLs without user and password, credential headers' values as ***."""
    targets = [
        {
            **t,
            "base_url": url(t["base_url"]),
            "headers": [list(h) for h in headers(t["headers"])],
            **({"metrics_url": url(t["metrics_url"])} if t.get("metrics_url") else {}),
        }
        for t in d.get("targets", ())
    ]
    out = {**d, "targets": targets}
    alert = (d.get("schedule") or {}).get("alert")
    if alert and alert.get("webhook"):  # a webhook's path is its token
        out["schedule"] = {**d["schedule"], "alert": {**alert, "webhook": origin(alert["webhook"])}}
    return out


def origin(u: str) -> str:
    """scheme://host[:port] of URL U, with '/…' when it has a path or query: all of a
    URL that may be written when the URL itself is a secret (a webhook's)."""
    parts = urllib.parse.urlsplit(u)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return f"{parts.scheme}://{host}" + ("/…" if parts.path.strip("/") or parts.query else "")


def has_userinfo(u: str) -> bool:
    """Whether URL U carries a user (and maybe a password) before its host."""
    return "@" in _authority(u)[1]


def credentials(u: str) -> tuple[str, str] | None:
    """The (user, password) of URL U, percent-decoded, or None when it has neither."""
    authority = _authority(u)[1]
    if "@" not in authority:
        return None
    userinfo = authority.rpartition("@")[0]
    user, _, password = userinfo.partition(":")
    return urllib.parse.unquote(user), urllib.parse.unquote(password)


def strip_userinfo(u: str) -> str:
    """URL U without its user and password (what is sent on the wire as the URL)."""
    head, authority, tail = _authority(u)
    return head + authority.rpartition("@")[2] + tail


def url(u: str) -> str:
    """URL U with any user:password replaced by ***, the host kept."""
    head, authority, tail = _authority(u)
    if "@" not in authority:
        return u
    return f"{head}{MASK}@{authority.rpartition('@')[2]}{tail}"


def is_credential_header(name: str) -> bool:
    """Whether header NAME carries a credential (its value is never written)."""
    return name.lower() in CREDENTIAL_HEADERS


def headers(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(name, value) pairs with each credential header's value replaced by ***."""
    return tuple((k, MASK if is_credential_header(k) else v) for k, v in items)


def variants(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as a text may hold it: as is, percent-encoded, JSON-escaped; longest
    first, so a secret that contains another is removed whole."""
    return _variants(tuple(secrets))


@functools.lru_cache(maxsize=16)
def _variants(secrets: tuple[str, ...]) -> tuple[str, ...]:
    # Cached: a run scrubs every failed request's detail with the same few keys, and
    # quoting them again for each failure was work repeated on the request path.
    out: set[str] = set()
    for s in secrets:
        if s:
            out |= {s, urllib.parse.quote(s, safe=""), s.replace("/", "\\/")}
    return tuple(sorted(out, key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str] = (), limit: int = 0) -> str:
    """TEXT without the SECRETS, echoed credential headers, bearer tokens and
    URL passwords; cut to LIMIT characters (0: no cut) after scrubbing, never before."""
    if not text:
        return text
    values = variants(secrets)
    out = _scrub_once(text, values)
    if limit and len(out) > limit:
        out = _scrub_once(out[:limit], values)
    return out


def _scrub_once(text: str, values: tuple[str, ...]) -> str:
    for v in values:
        if v in text:
            text = text.replace(v, MASK)
    text = _USERINFO.sub(rf"\g<scheme>{MASK}@", text)
    text = _HEADER.sub(_mask_value, text)
    text = _BEARER.sub(rf"\g<scheme> {MASK}", text)
    return _drop_cut_tail(text, values)


def _mask_value(m: re.Match[str]) -> str:
    value = m.group("value")
    if value.startswith('\\"'):
        return f'{m.group("head")}\\"{MASK}\\"'
    if value[:1] in "\"'" and len(value) > 1:
        return f"{m.group('head')}{value[0]}{MASK}{value[0]}"
    return f"{m.group('head')}{MASK}" if value.strip() else m.group(0)


def _drop_cut_tail(text: str, values: tuple[str, ...]) -> str:
    """TEXT without a trailing beginning of a secret (a text cut inside one)."""
    for v in values:
        for n in range(min(len(v) - 1, len(text)), _SHORTEST_PARTIAL - 1, -1):
            if text.endswith(v[:n]):
                return text[:-n] + MASK
    return text


def _authority(u: str) -> tuple[str, str, str]:
    """U as (scheme://, authority, the rest); the authority is "" without a scheme."""
    scheme, sep, rest = u.partition("://")
    if not sep:
        return u, "", ""
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return scheme + sep, rest[:end], rest[end:]

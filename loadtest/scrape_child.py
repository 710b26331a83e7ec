"""One scrape of a server's /metrics, fetched and parsed: what the scrape process runs
(loadtest.server_scrape). Kept apart so that a spawned process imports only this, the
parser and the standard library (about 80 ms, against 220 for the run's modules)."""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request

from loadtest import redact
from loadtest.lifeline import die_with_parent
from loadtest.server_metrics import Snapshot, parse

MAX_BYTES = 16 * 1024 * 1024  # a metrics page larger than this is not one


def fetch_text(url: str, timeout_s: float) -> str:
    """The body of GET URL as text; OSError with a short reason when there is none
    (a refused connection, a status other than 200, a timeout). The proxy is the
    environment's (HTTP_PROXY, NO_PROXY), as urllib reads it; no credential is sent."""
    req = urllib.request.Request(redact.strip_userinfo(url), headers={"Accept": "text/plain"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            body: bytes = resp.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise OSError(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            raise OSError(f"no answer in {timeout_s:g} s") from None
        raise OSError(getattr(reason, "strerror", None) or str(reason)) from None
    except TimeoutError:
        raise OSError(f"no answer in {timeout_s:g} s") from None
    if len(body) > MAX_BYTES:
        raise OSError(f"more than {MAX_BYTES // (1024 * 1024)} MiB")
    return body.decode("utf-8", "replace")


def read_server(
    url: str, models: tuple[str, ...], whole: bool, timeout_s: float
) -> tuple[int, dict[str, Snapshot] | str]:
    """One scrape of URL (in the scrape process): when its text came (perf_counter_ns,
    one clock for every process of the machine) and its snapshot for each of MODELS,
    or why there is none."""
    try:
        text = fetch_text(url, timeout_s)
    except OSError as exc:
        return time.perf_counter_ns(), str(exc) or type(exc).__name__
    at = time.perf_counter_ns()
    try:
        return at, {m: parse(text, m, raw=whole) for m in models}
    except ValueError as exc:
        return at, f"not Prometheus text ({str(exc)[:120]})"


def quiet_child(parent_pid: int) -> None:
    """The scrape process's start: deaf to Ctrl-C, and gone with its parent."""
    # A terminal's Ctrl-C reaches the whole process group; the run decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Its pipes from the pool are its own too, so it would never see the parent go.
    die_with_parent(parent_pid)


def nothing() -> None:
    """A job that only makes the process start (and import this module alone)."""

"""What can go wrong, defined once: request error classes, our exceptions, exit codes.

A request's failure is data, not an exception: it ends with one `ErrorClass` on its
record, counted by class in every summary, report and the store. What stops the
program is an exception from this hierarchy, mapped to its exit code in `EXIT_CODES`:

    LoadtestError
     ├── UserError        bad input we can name: a profile key, a flag, a file (exit 2)
     │    └── ConfigError  the TOML reader's (config_reader.Table builds these)
     └── RuntimeFailure   the world failed us: a held lock, a busy port, a corrupt
                          store, an unreachable simulator clock (exit 3)

Both carry a one-line message that names what is wrong and where.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ErrorClass(StrEnum):
    """Why a request did not complete, as results.jsonl, summaries and reports name it."""

    CONNECT = "connect"  # no connection (refused, DNS, TLS, connect timeout)
    TIMEOUT_TTFT = "timeout_ttft"  # no first token within the TTFT timeout
    TIMEOUT_IDLE = "timeout_idle"  # the stream went silent for the idle timeout
    TIMEOUT_TOTAL = "timeout_total"  # not finished within the total timeout
    HTTP_4XX = "http_4xx"
    HTTP_429 = "http_429"  # rate limited
    HTTP_5XX = "http_5xx"
    OVERLOADED = "overloaded"  # HTTP 529, or Anthropic's overloaded_error in the stream
    STREAM_ERROR = "stream_error"  # an error event inside a 200 stream
    TRUNCATED = "truncated"  # the stream ended early or inside an event
    PROTOCOL = "protocol"  # a malformed event, a 200 that is no event stream, one too large
    # Anything else that went wrong on our side of the request: an exception no other
    # class names (aiohttp refusing a URL or a header value, a bug), mapped, not raised,
    # so that one odd request never stops a target's workers. The detail has its type.
    CLIENT_ERROR = "client_error"
    # Not failures of the server: requests the run itself cut short or never sent.
    ABANDONED = "abandoned"  # sent, still in flight when the drain ended (or a 2nd Ctrl-C)
    SHED = "shed"  # due, never sent: the open-loop backlog was full
    UNSENT = "unsent"  # due, never sent: waiting for an in-flight slot when the run stopped


# Outcomes the run imposed, kept apart from the server's failures in every count.
NOT_SERVER_FAILURES = frozenset({ErrorClass.ABANDONED, ErrorClass.SHED, ErrorClass.UNSENT})


def classify_status(status: int) -> ErrorClass:
    """Error class of a non-200 HTTP status."""
    if status == 429:
        return ErrorClass.HTTP_429
    if status == 529:
        return ErrorClass.OVERLOADED
    return ErrorClass.HTTP_5XX if status >= 500 else ErrorClass.HTTP_4XX


class ExitCode(IntEnum):
    """The `loadtest` command's exit statuses."""

    OK = 0
    FAILED = 1  # the command ran and what it ran failed (every scheduled run failed)
    USER_ERROR = 2
    RUNTIME_FAILURE = 3
    NOTHING_COMPLETED = 4  # the run finished, but a target recorded only failures
    ALERT = 5  # loadtest check: an hour is worse than that hour of the week usually is
    THRESHOLDS_FAILED = 99  # as k6 exits when a threshold fails
    HANGUP = 129  # the terminal went away before the summary could be printed
    INTERRUPTED = 130  # Ctrl-C (the run's files are written)
    BROKEN_PIPE = 141  # its output's reader went away (`| head`): 128 + SIGPIPE, as git
    TERMINATED = 143  # SIGTERM, 128 + 15 as a shell reports it (the run's files are written)


class LoadtestError(Exception):
    """Base of the exceptions that end a command with a one-line message."""

    exit_code = ExitCode.FAILED


class UserError(LoadtestError):
    """Bad input: a profile, a flag or a file the user can fix."""

    exit_code = ExitCode.USER_ERROR


class ConfigError(UserError):
    """Bad configuration; the message names the file, the key path and the fix."""


class RuntimeFailure(LoadtestError):
    """Something outside the input failed: a lock, a port, a store, a clock."""

    exit_code = ExitCode.RUNTIME_FAILURE

"""Incremental Server-Sent Events parser (WHATWG HTML "event stream" rules), pure and fast.

Feed it bytes as they arrive from the network; it returns the events completed by
those bytes. Work is done once per network read, not once per line: a read is split
into lines in one call, and only a trailing partial line is carried over.

Spec points that real servers exercise: lines end in LF, CRLF or a lone CR (a CR at
the end of one read may be the first half of a CRLF split across reads); a line
starting with ':' is a comment (keep-alive); 'field: value' loses one leading space;
a line with no colon is a field with an empty value; several 'data' lines join with
LF; an empty line dispatches, but only when data was given; 'id' persists across
events; a UTF-8 BOM at the very start is dropped.

What the parser holds between reads is bounded: the pending line and the open event's
data may not pass `limit` bytes (1 MiB by default), or feed() raises `EventTooLarge`
(a server streaming something that is not an event stream, or one line forever). The
check is made once per read, never per event; a whole event inside one read is bounded
by the read itself (aiohttp hands over a few hundred KiB at most). A line that arrives
in many reads is kept as a list of pieces, searched only in each new piece for its end
and joined once: linear time, where re-joining the pending bytes on every read was
quadratic (a stream with no newline grew ~10 MB/s and burned a core until the total
timeout).
"""

from __future__ import annotations

from typing import NamedTuple, NoReturn

_BOM = b"\xef\xbb\xbf"
MAX_EVENT = 1 << 20  # bytes: the default limit on one pending line or open event
_new = tuple.__new__  # builds an Event without NamedTuple's slower Python-level __new__


class Event(NamedTuple):
    """One dispatched event: its type (b"message" when none was given), data and last id."""

    event: bytes
    data: bytes
    id: bytes


class EventTooLarge(Exception):
    """A line or event passed the parser's size limit; the parser is spent."""


def size_text(n: int) -> str:
    """N bytes as people write a limit: '1 MiB', '64 KiB' or '1000 bytes'."""
    if n and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


class SSEParser:
    """Bytes in, completed events out. One parser per response."""

    __slots__ = (
        "_data",
        "_event",
        "_held",
        "_id",
        "_limit",
        "_more",
        "_pending",
        "_size",
        "_started",
        "truncated",
    )

    def __init__(self, limit: int = MAX_EVENT) -> None:
        self._pending = b""  # an incomplete last line (possibly ending in a lone CR)
        self._more: list[bytes] = []  # later pieces of that line, while no read ends it
        self._size = 0  # bytes held while _more is in use: pending, its pieces, open data
        self._data: list[bytes] = []  # the open event's data lines (one given: dispatch)
        self._held = 0  # bytes of those lines, one more each for its LF
        self._limit = limit
        self._event = b""
        self._id = b""
        self._started = False
        self.truncated = False

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse CHUNK; return the events it completes (maybe none). Raises EventTooLarge
        when the pending line and open event would hold more than the limit."""
        if not self._started:
            head = self._pending + chunk
            if len(head) < len(_BOM) and _BOM.startswith(head):
                self._pending = head  # maybe a BOM split across reads: wait for more
                return []
            self._started = True
            self._pending = b""
            chunk = head[3:] if head.startswith(_BOM) else head
        if (
            not self._pending
            and chunk.startswith(b"data: ")
            and chunk.endswith(b"\n\n")
            and chunk.count(b"\n") == 2
            and b"\r" not in chunk
            and not self._data
            and not self._event
        ):
            # A read that is exactly one one-line event: how a server streaming token
            # by token is read when the client keeps up.
            return [_new(Event, (b"message", chunk[6:-2], self._id))]
        pending = self._pending
        if pending:
            # (A pending line ending in CR has ended: only an LF may follow.)
            if b"\n" not in chunk and b"\r" not in chunk and pending[-1] != 0x0D:
                return self._grow(chunk)  # the same line goes on
            if self._more:
                pending = b"".join([pending, *self._more])  # once per line: linear
                self._more = []
            buf = pending + chunk
        else:
            buf = chunk
        if b"\r" in buf:
            # A CR at the very end may pair with an LF in the next read: keep it back.
            held = b"\r" if buf.endswith(b"\r") else b""
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buf.split(b"\n")
            rest = lines.pop()  # the limit is on the line: a held CR is its end
            self._pending = rest + held
        else:
            lines = buf.split(b"\n")
            self._pending = rest = lines.pop()
        out = self._lines(lines) if lines else []
        if len(rest) + self._held > self._limit:  # once per read, never per event
            self._too_large()
        return out

    def _grow(self, chunk: bytes) -> list[Event]:
        if not self._more:
            self._size = len(self._pending) + self._held
        self._more.append(chunk)
        self._size += len(chunk)
        if self._size > self._limit:
            self._too_large()
        return []

    def _too_large(self) -> NoReturn:
        limit = size_text(self._limit)
        if self._data:
            raise EventTooLarge(f"event larger than {limit} without its end (a blank line)")
        raise EventTooLarge(f"line larger than {limit} without a line end")

    def close(self) -> list[Event]:
        """End of stream: returns events a final lone CR completes; then `truncated` says
        whether an incomplete event was left, which the spec discards (a truncated stream)."""
        out: list[Event] = []
        pending, self._pending = self._pending, b""
        if self._more:
            pending = b"".join([pending, *self._more])
            self._more = []
        if pending.endswith(b"\r"):
            out = self._lines([pending[:-1]])
            pending = b""
        self.truncated = bool(pending) or bool(self._data)
        self._data = []
        self._held = 0
        self._event = b""
        return out

    def _lines(self, lines: list[bytes]) -> list[Event]:
        out: list[Event] = []
        data = self._data
        n = len(data)
        for line in lines:
            if line:
                # The bulk path: almost every line of an LLM stream is "data: {...}".
                if line.startswith(b"data: "):
                    data.append(line[6:])
                else:
                    self._field(line, data)
            elif data:
                value = data[0] if len(data) == 1 else b"\n".join(data)
                out.append(_new(Event, (self._event or b"message", value, self._id)))
                data = self._data = []
                self._event = b""
            else:
                self._event = b""
        # What the open event holds, for feed's limit. Only the lines this read added are
        # measured (after a dispatch the list is new), so a long event costs linear time.
        if data:
            if out or not n:
                self._held = sum(map(len, data)) + len(data)
            else:
                self._held += sum(map(len, data[n:])) + len(data) - n
        else:
            self._held = 0
        return out

    def _field(self, line: bytes, data: list[bytes]) -> None:
        if line[0] == 0x3A:  # ':' comment
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value.startswith(b" "):
                value = value[1:]
        if name == b"data":
            data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id" and b"\x00" not in value:
            self._id = value
        # 'retry' and unknown fields are ignored, as the spec says.

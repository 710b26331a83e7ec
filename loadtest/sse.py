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
"""

from __future__ import annotations

from typing import NamedTuple

_BOM = b"\xef\xbb\xbf"
_new = tuple.__new__  # builds an Event without NamedTuple's slower Python-level __new__


class Event(NamedTuple):
    """One dispatched event: its type (b"message" when none was given), data and last id."""

    event: bytes
    data: bytes
    id: bytes


class SSEParser:
    """Bytes in, completed events out. One parser per response."""

    __slots__ = ("_data", "_event", "_id", "_pending", "_started", "truncated")

    def __init__(self) -> None:
        self._pending = b""  # an incomplete last line (possibly ending in a lone CR)
        self._data: list[bytes] = []  # the open event's data lines (one given: dispatch)
        self._event = b""
        self._id = b""
        self._started = False
        self.truncated = False

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse CHUNK; return the events it completes (maybe none)."""
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
        buf = self._pending + chunk if self._pending else chunk
        if b"\r" in buf:
            # A CR at the very end may pair with an LF in the next read: keep it back.
            held = b"\r" if buf.endswith(b"\r") else b""
            if held:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            lines = buf.split(b"\n")
            self._pending = lines.pop() + held
        else:
            lines = buf.split(b"\n")
            self._pending = lines.pop()
        return self._lines(lines) if lines else []

    def close(self) -> list[Event]:
        """End of stream: returns events a final lone CR completes; then `truncated` says
        whether an incomplete event was left, which the spec discards (a truncated stream)."""
        out: list[Event] = []
        pending, self._pending = self._pending, b""
        if pending.endswith(b"\r"):
            out = self._lines([pending[:-1]])
            pending = b""
        self.truncated = bool(pending) or bool(self._data)
        self._data = []
        self._event = b""
        return out

    def _lines(self, lines: list[bytes]) -> list[Event]:
        out: list[Event] = []
        data = self._data
        for line in lines:
            if line:
                # The bulk path: almost every line of an LLM stream is "data: {...}".
                if line.startswith(b"data: "):
                    data.append(line[6:])
                else:
                    self._field(line, data)
            else:
                if data:
                    value = data[0] if len(data) == 1 else b"\n".join(data)
                    out.append(_new(Event, (self._event or b"message", value, self._id)))
                    data = self._data = []
                self._event = b""
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

"""Sending streams on time: one timer for all streams, pre-encoded chunks written to the socket.

Subtleness ahead: after aiohttp's StreamResponse.prepare() the status line and
headers are already on the wire (StreamResponse sends headers immediately), so
chunks can be written straight to the transport with our own chunked framing.
This skips a coroutine and an await per event, which is most of the cost of
aiohttp's resp.write(); the response is still finished by aiohttp's write_eof(),
which appends the terminating zero-length chunk.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import random
import time
from typing import Protocol

from loadtest.sim.capacity import CapacityGate
from loadtest.sim.metrics import TTFT, ModelStats
from loadtest.sim.plan import Plan

_NS = 1_000_000_000


class Encoder(Protocol):
    """The wire format of one streamed response."""

    def preamble(self) -> bytes: ...
    def event(self, i: int) -> bytes: ...
    def finish(self) -> bytes: ...
    def error_event(self) -> bytes: ...
    def malformed(self) -> bytes: ...
    def ping(self) -> bytes: ...


class Writer(Protocol):
    """The part of asyncio.Transport a stream needs."""

    def write(self, data: bytes) -> None: ...
    def is_closing(self) -> bool: ...
    def close(self) -> None: ...


# How a stream ended, as its done-future reports it.
COMPLETE = "complete"  # all events sent: finish the HTTP response normally
CUT = "cut"  # error event sent: finish the HTTP response, no terminal events
DROPPED = "dropped"  # connection closed by us (fault) or by the client: nothing more to send


class StreamJob:
    """One streamed response: what to write next and when (perf_counter_ns deadlines).

    Deadlines follow the intended schedule (next = previous deadline + gap), not
    the moment a write happened, so a late tick never shifts the tokens after it.
    """

    __slots__ = (
        "_chunked",
        "_const_gap_ns",
        "_event",
        "_ping",
        "_plain_until",
        "_sizes",
        "_stalling",
        "_w",
        "arrived_ns",
        "done",
        "enc",
        "fault",
        "gap_mu",
        "gap_sigma",
        "gate",
        "i",
        "last_token_ns",
        "last_write_ns",
        "n",
        "next_due_ns",
        "opened",
        "ping_interval_ns",
        "preamble_due_ns",
        "rng",
        "sent_events",
        "stats",
    )

    def __init__(
        self,
        writer: Writer,
        chunked: bool,
        enc: Encoder,
        plan: Plan,
        gap: tuple[float, float],
        rng: random.Random,
        gate: CapacityGate | None,
        start_ns: int,
        ping_interval_s: float,
        done: asyncio.Future[str],
        stats: ModelStats | None = None,
        arrived_ns: int = 0,
    ) -> None:
        """STATS: the model's /metrics counters, which see the first token's write from
        ARRIVED_NS (the request's arrival) and every gap between content events."""
        self._w = writer
        self.stats = stats
        self.arrived_ns = arrived_ns or start_ns
        self._chunked = chunked
        self.enc = enc
        self.n = plan.events
        self.fault = plan.fault
        self.gap_mu, self.gap_sigma = gap
        self.rng = rng
        self.gate = gate
        self.done = done
        self.i = 0
        self.sent_events = 0
        ttft_ns = int(plan.ttft_s * _NS)
        self.preamble_due_ns = start_ns + int(plan.first_byte_s * _NS)
        self.next_due_ns = start_ns + ttft_ns
        self._stalling = False
        if self.fault is not None and self.fault.kind == "stall" and self.fault.at_token == 0:
            self.next_due_ns += int(self.fault.stall_s * _NS)
            self._stalling = True
        self.opened = self.preamble_due_ns >= self.next_due_ns  # preamble goes with token 0
        self.last_write_ns = start_ns
        self.last_token_ns = start_ns
        self._ping = enc.ping()
        self.ping_interval_ns = int(ping_interval_s * _NS)
        self._event = enc.event
        self._const_gap_ns = int(math.exp(self.gap_mu) * _NS)
        # Tokens carried by each event, when events carry several (the first one alone,
        # then groups: see Plan): the gap before an event is then one gap per token it
        # carries, so it goes out when its last token is ready. Empty for one token per
        # event.
        self._sizes = plan.event_tokens() if plan.tokens_per_event > 1 else ()
        # Events before this index need none of the special cases (preamble, fault,
        # stall, last event) and take the short path in step().
        plain = self.n - 1
        if self.fault is not None and self.fault.at_token is not None:
            at = self.fault.at_token
            plain = min(plain, at - 1 if self.fault.kind == "stall" else at)
        self._plain_until = plain

    def first_due_ns(self) -> int:
        """When this stream first needs the timer."""
        return self.next_due_ns if self.opened else self.preamble_due_ns

    def _write(self, data: bytes, now_ns: int) -> None:
        if self._chunked:
            data = b"%x\r\n%b\r\n" % (len(data), data)
        self._w.write(data)
        self.last_write_ns = now_ns

    def _end(self, how: str) -> None:
        if self.gate is not None:
            self.gate.release()
            self.gate = None
        if not self.done.done():
            self.done.set_result(how)

    def _wake(self) -> int:
        # A keep-alive ping when the next token is far off, except during a stall:
        # a stall means no bytes at all.
        if self._ping and not self._stalling:
            ping_at = self.last_write_ns + self.ping_interval_ns
            if ping_at < self.next_due_ns:
                return ping_at
        return self.next_due_ns

    def step(self, due_ns: int, now_ns: int) -> int | None:
        """Write what was due at DUE_NS; return the next deadline, or None when over."""
        w = self._w
        if w.is_closing():
            self._end(DROPPED)
            return None
        i = self.i
        if 0 < i < self._plain_until and due_ns >= self.next_due_ns:
            # The common case, kept flat: it runs once per event of every stream.
            data = self._event(i)
            w.write(b"%x\r\n%b\r\n" % (len(data), data) if self._chunked else data)
            self.last_write_ns = now_ns
            if self.stats is not None:
                self.stats.gap_ns(now_ns - self.last_token_ns)
            self.last_token_ns = now_ns
            self.i = i + 1
            self.sent_events += 1
            gap = self._next_gap_ns()
            self.next_due_ns += gap
            return self._wake() if self._ping else self.next_due_ns
        if not self.opened:
            self.opened = True
            self._write(self.enc.preamble(), now_ns)
            return self._wake()
        if due_ns < self.next_due_ns:  # woken for a keep-alive ping
            self._write(self._ping, now_ns)
            return self._wake()
        return self._emit(now_ns)

    def _emit(self, now_ns: int) -> int | None:
        i = self.i
        buf = self.enc.preamble() if i == 0 and self.preamble_due_ns >= self.next_due_ns else b""
        f = self.fault
        if f is not None and f.at_token == i:
            if f.kind == "stream_error":
                self._write(buf + self.enc.error_event(), now_ns)
                self._end(CUT)
                return None
            if f.kind == "disconnect":
                if buf:
                    self._write(buf, now_ns)
                self._w.close()
                self._end(DROPPED)
                return None
            if f.kind == "malformed":
                buf += self.enc.malformed()
        if i < self.n:
            buf += self.enc.event(i)
            self.sent_events += 1
            if self.stats is not None:
                if i == 0:
                    self.stats.observe(TTFT, (now_ns - self.arrived_ns) / _NS)
                else:
                    self.stats.gap_ns(now_ns - self.last_token_ns)
            self.last_token_ns = now_ns
        self.i = i = i + 1
        self._stalling = False
        if i >= self.n:
            self._write(buf + self.enc.finish(), now_ns)
            self._end(COMPLETE)
            return None
        if buf:
            self._write(buf, now_ns)
        gap = self._next_gap_ns()
        if f is not None and f.kind == "stall" and f.at_token == i:
            gap += int(f.stall_s * _NS)
            self._stalling = True
        self.next_due_ns += gap
        return self._wake()

    def _next_gap_ns(self) -> int:
        # Called with self.i already at the event the gap leads to.
        if self._sizes:
            return self._packed_gap_ns(self._sizes[self.i])
        sigma = self.gap_sigma
        if sigma == 0.0:
            gap = self._const_gap_ns
        else:
            gap = int(math.exp(self.gap_mu + sigma * self.rng.gauss()) * _NS)
        if self.gate is not None:
            gap = int(gap * self.gate.gap_factor())
        return gap

    def _packed_gap_ns(self, tokens: int) -> int:
        # One draw per token, in the order a one-token-per-event stream draws them, so
        # for a seed every event lands on the instant that stream sends its last token.
        sigma = self.gap_sigma
        if sigma == 0.0:
            gap = self._const_gap_ns * tokens
        else:
            mu, gauss = self.gap_mu, self.rng.gauss
            gap = sum(int(math.exp(mu + sigma * gauss()) * _NS) for _ in range(tokens))
        if self.gate is not None:
            gap = int(gap * self.gate.gap_factor())
        return gap


class Ticker:
    """One timer for every stream of a worker: each wake-up sends all events that are due.

    A heap of (deadline, seq, job) replaces one sleeping coroutine per stream; with
    thousands of streams this saves a timer handle, a future and a task switch per event.

    Subtleness ahead: uvloop rounds a timer delay to the nearest millisecond of a
    cached clock, so a timer fires up to ~0.5 ms early, and a delay under 0.5 ms
    fires at once. Events due within `slack_ns` are therefore sent on the current
    wake-up (at most that early), and the timer is never armed for less than the
    slack: without this the loop spins, waking several times per event.
    """

    def __init__(self, slack_ns: int = 500_000) -> None:
        self._heap: list[tuple[int, int, StreamJob]] = []
        self._seq = 0
        self._handle: asyncio.TimerHandle | asyncio.Handle | None = None
        self._armed_ns = 0
        self.slack_ns = slack_ns
        self.wakeups = 0
        self.events = 0
        # Self-check: writes that went out later than their deadline by 1, 2 and 5 ms.
        self.late = [0, 0, 0]
        self.max_late_ns = 0

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, job: StreamJob) -> None:
        """Schedule JOB at its first deadline."""
        self._push(job.first_due_ns(), job)
        self._arm(time.perf_counter_ns())

    def _push(self, due_ns: int, job: StreamJob) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due_ns, self._seq, job))

    def _arm(self, now_ns: int) -> None:
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._handle is not None:
            if self._armed_ns <= due:
                return
            self._handle.cancel()
        loop = asyncio.get_running_loop()
        delay = due - now_ns
        if delay <= self.slack_ns:
            self._handle = loop.call_soon(self._tick)
        else:
            self._handle = loop.call_later(delay / _NS, self._tick)
        self._armed_ns = due

    def stats(self) -> dict[str, int]:
        """Counters of the simulator's own timeliness."""
        return {
            "events": self.events,
            "wakeups": self.wakeups,
            "late_1ms": self.late[0],
            "late_2ms": self.late[1],
            "late_5ms": self.late[2],
            "max_late_us": self.max_late_ns // 1000,
        }

    def _tick(self) -> None:
        self._handle = None
        self.wakeups += 1
        heap = self._heap
        clock = time.perf_counter_ns
        late = self.late
        limit = clock() + self.slack_ns
        while heap and heap[0][0] <= limit:
            due, _, job = heapq.heappop(heap)
            now = clock()
            lag = now - due
            if lag > 1_000_000:
                late[0] += 1
                if lag > 2_000_000:
                    late[1] += 1
                    if lag > 5_000_000:
                        late[2] += 1
                if lag > self.max_late_ns:
                    self.max_late_ns = lag
            self.events += 1
            try:
                nxt = job.step(due, now)
            except Exception:  # a broken socket must not stop every other stream
                job._end(DROPPED)
                nxt = None
            if nxt is not None:
                self._push(nxt, job)
        self._arm(time.perf_counter_ns())

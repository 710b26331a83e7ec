"""An asyncio event loop on virtual time, for tests of the engine's decisions.

Its clock stands still while callbacks run and jumps to the next timer when the loop
would otherwise wait, so a 60-second schedule runs in milliseconds and every instant
is exact: no test of late, shed or drain accounting depends on how busy the machine
is. Written here, not taken from a library: it is twenty lines, and the libraries for
it (looptime) are plugins for pytest-asyncio's loop fixtures, which this suite does
not use.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any, cast


class _JumpingSelector:
    """Wraps the loop's selector: a wait for TIMEOUT becomes a jump of the clock."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if timeout is None:
            raise RuntimeError("virtual-time loop: nothing scheduled, it would wait forever")
        if timeout > 0:
            self._loop.now += timeout
        return self._inner.select(0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector loop whose time() is virtual seconds from START (not 0: a stamp of 0
    means "never happened" in a RequestRecord)."""

    START = 1000.0
    _selector: selectors.BaseSelector  # asyncio's, undeclared in its stubs

    def __init__(self) -> None:
        super().__init__()
        self.now = self.START
        # A BaseSelector by delegation: what it does not override goes to the inner one.
        self._selector = cast(selectors.BaseSelector, _JumpingSelector(self._selector, self))

    def time(self) -> float:
        return self.now

    @property
    def elapsed(self) -> float:
        """Virtual seconds since the loop was made."""
        return self.now - self.START

    def ns(self) -> int:
        """The virtual time in integer nanoseconds (the engine's clock)."""
        return round(self.now * 1e9)

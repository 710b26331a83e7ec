"""The peak window: the weekdays and hours that the time-of-day report sets against the
rest, and that `loadtest check` leaves out of its off-peak baseline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Window:
    """Peak hours: these weekdays (0 = Monday), from start_hour to end_hour (exclusive)."""

    days: tuple[int, ...] = (0, 1, 2, 3, 4)
    start_hour: int = 9
    end_hour: int = 17

    def describe(self) -> str:
        """'Mon, Tue, Wed, Thu, Fri 09:00-17:00'."""
        days = ", ".join(DAYS[d] for d in self.days)
        return f"{days} {self.start_hour:02d}:00-{self.end_hour:02d}:00"

    def holds(self, t: datetime) -> bool:
        return t.weekday() in self.days and self.start_hour <= t.hour < self.end_hour

    @classmethod
    def parse(cls, text: str) -> Window:
        """'Mon-Fri 09-17', 'Sat,Sun 10-22', 'Mon-Sun 0-24'; ValueError when malformed."""
        try:
            day_part, hour_part = text.split()
            days: list[int] = []
            for piece in day_part.split(","):
                first, _, last = piece.partition("-")
                a, b = _day(first), _day(last or first)
                days += range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
            start, end = (int(h) for h in hour_part.split("-"))
        except ValueError:
            raise ValueError(
                f"expected days and hours such as 'Mon-Fri 09-17', got {text!r}"
            ) from None
        if not 0 <= start < end <= 24:
            raise ValueError(f"expected hours from 0 to 24, start before end, got {hour_part!r}")
        return cls(tuple(sorted(set(days))), start, end)


def _day(name: str) -> int:
    try:
        return [d.lower() for d in DAYS].index(name.strip().lower()[:3])
    except ValueError:
        raise ValueError(name) from None

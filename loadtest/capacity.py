"""What this process can hold open, and a profile fitted to it.

Every stream (a closed-loop worker, an open loop's in-flight slot) is a connection,
and a connection is an open file. A profile that asks for more streams than the
process may open would not load the server harder: the extra connects would fail
with EMFILE and be counted as the server's `connect` errors, and the workers
behind them would only hold memory. So the open-file limit is raised to what the
system allows (as wrk and k6's docs ask users to do by hand), and a load beyond it
is cut to it, with one line saying so, before the run starts: what is recorded is
what ran.
"""

from __future__ import annotations

import dataclasses

from loadtest.loadspec import Load
from loadtest.profile import Profile

RESERVE = 256  # files kept for everything else: results, the store, pipes, the simulator
MAX_OPEN = 1 << 20  # a ceiling where the hard limit is unlimited


def raise_open_files() -> int:
    """Raise the soft open-file limit to the hard one; returns the limit now in force."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise, nothing known
        return MAX_OPEN
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = MAX_OPEN if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):  # some systems refuse; the soft limit stands
            pass
    return MAX_OPEN if soft == resource.RLIM_INFINITY else int(soft)


def streams(load: Load) -> int:
    """The most connections LOAD can hold at once."""
    return max(
        load.concurrency if load.mode == "closed" else 0,
        load.max_in_flight if load.mode == "open" else 0,
        *(s.concurrency or 0 for s in load.steps if load.mode == "closed"),
        1,
    )


def cap(load: Load, most: int) -> Load:
    """LOAD with no more than MOST streams (closed-loop concurrency, open-loop slots)."""
    if load.mode == "open":
        return dataclasses.replace(load, max_in_flight=min(load.max_in_flight, most))
    steps = tuple(
        dataclasses.replace(s, concurrency=min(s.concurrency, most))
        if s.concurrency is not None
        else s
        for s in load.steps
    )
    return dataclasses.replace(load, concurrency=min(load.concurrency, most), steps=steps)


def fit(p: Profile, open_files: int) -> tuple[Profile, list[str]]:
    """P with every target's streams within OPEN_FILES, and a line per target that was
    cut; P itself when all fit. Shared max-min fair: a target asking less than an even
    share keeps what it asks, the others split the rest evenly."""
    budget = max(len(p.targets), open_files - RESERVE)
    wanted = {t.name: streams(p.load_of(t)) for t in p.targets}
    if sum(wanted.values()) <= budget:
        return p, []
    granted: dict[str, int] = {}
    for i, name in enumerate(sorted(wanted, key=wanted.__getitem__)):
        granted[name] = min(wanted[name], budget // (len(wanted) - i))
        budget -= granted[name]
    targets, lines = [], []
    for t in p.targets:
        load, most = p.load_of(t), granted[t.name]
        if wanted[t.name] > most:
            what = "max_in_flight" if load.mode == "open" else "concurrency"
            lines.append(
                f"{t.name}: {what} {wanted[t.name]:,} is more than this process can hold "
                f"open ({open_files:,} files); running {most:,}"
            )
        targets.append(dataclasses.replace(t, load=cap(load, most)))
    return dataclasses.replace(p, targets=tuple(targets)), lines

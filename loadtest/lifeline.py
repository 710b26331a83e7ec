"""A child process that ends with its parent, however the parent ends."""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def die_with_parent(parent_pid: int) -> None:
    """Have the kernel send this process SIGTERM when its parent dies (Linux), so a
    parent killed with kill -9 or by the OOM killer leaves no child behind (the
    simulator's processes, the server-metrics scraper); exit now if the parent is
    already gone. Elsewhere a no-op: the parent's own stop still ends it."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the request took effect
        os._exit(1)

"""Ready to run: everything about a profile that can be known before the load.

`loadtest validate`, `run` (before --start-at's wait and before the simulator starts)
and `schedule` (before the first fire) call check(), so that a mistake found an hour
into a scheduled week, or after the load began, is found at once instead: the prompts
file (there, UTF-8, each line a prompt), the simulator's config, the API key variables,
the output folder and the store. A bad input is a ConfigError (exit 2), a world that
refuses (an unwritable folder) a RuntimeFailure (exit 3); each one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from loadtest.errors import ConfigError, RuntimeFailure
from loadtest.profile import Profile
from loadtest.providers.build import builder
from loadtest.providers.registry import provider
from loadtest.sinks import check_folder
from loadtest.workload import prompt_source

_SIM_URL = "http://127.0.0.1:1"  # stands in for the simulator's address, not yet known


def check(p: Profile, env: Mapping[str, str] | None = None, store: str | None = None) -> None:
    """Raise the first problem that would stop P's run: bad input, or a folder or STORE
    (the run's --store, or the schedule's) that cannot be written."""
    environ = os.environ if env is None else env
    with _within(p, "workload.tokenizer" if p.workload.tokenizer else "workload.prompts_file"):
        prompt_source(p)  # reads and checks every line, or the tokenizer
    if p.simulator.config and any(t.uses_simulator for t in p.targets):
        from loadtest.sim.config import load_config  # only for profiles that start it

        with _within(p, "simulator.config"):
            load_config(p.simulator.config)
    for t in p.targets:  # a missing key, a URL password where the target sends its own auth
        url = _SIM_URL + provider(t.kind).sim_prefix if t.uses_simulator else t.base_url
        builder(t, p.workload_of(t), url, environ)
    check_folder(Path(p.out_dir), "out_dir (--out)")
    if store is not None:
        check_store(store, "--store")
    elif p.schedule is not None:
        check_store(p.schedule.store, "schedule.store")


@contextlib.contextmanager
def _within(p: Profile, key: str) -> Iterator[None]:
    """A ConfigError from a file the profile names, said with the profile's key."""
    try:
        yield
    except ConfigError as exc:
        raise ConfigError(f"{p.path}: {key}: {exc}") from None


def check_store(path: str, what: str) -> None:
    """The store at PATH can be written: the file opened for writing, or (none yet) its
    folder made and written in; else a RuntimeFailure naming WHAT chose it."""
    f = Path(path)
    if not f.exists():
        check_folder(f.parent, f"{what} {path}")
        return
    try:
        os.close(os.open(f, os.O_RDWR))
    except OSError as exc:
        raise RuntimeFailure(f"{what} {path}: cannot write the store ({exc.strerror})") from None

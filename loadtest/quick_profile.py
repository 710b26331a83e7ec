"""A profile without a file: `loadtest run --base-url URL --model NAME`, one target with
sensible defaults (as `vllm bench serve` and `guidellm --target` take one), read through
the same validation as a profile file, so a bad URL or kind is the same one line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtest.config_reader import Table
from loadtest.profile import Profile, from_table

FLAGS = "loadtest run flags"  # where an error in them says it is
DURATION_S = 30.0
CONCURRENCY = 4
INPUT_TOKENS = 200
OUTPUT_TOKENS = 128


def flags_profile(
    base_url: str,
    model: str,
    kind: str,
    api_key_env: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    duration_s: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """One target of KIND serving MODEL at BASE_URL ("sim": the built-in simulator),
    closed loop at CONCURRENCY streams for DURATION_S (30 s when None) with a tenth of
    it, at most 5 s, as warm-up; --rate, --concurrency and --requests apply on top as to
    any profile. ConfigError names the flag's key when a value is wrong."""
    target: dict[str, Any] = {"kind": kind, "model": model, "base_url": base_url}
    if api_key_env:
        target["api_key_env"] = api_key_env
    data: dict[str, Any] = {
        "name": "cli",
        "description": f"{kind} target {model} at {base_url}, from the command line",
        "duration": duration_s or DURATION_S,
        "warmup": warmup_for(duration_s or DURATION_S),
        "interval": 2.0,
        "load": {"mode": "closed", "concurrency": CONCURRENCY},
        "workload": {
            "input_tokens": input_tokens or INPUT_TOKENS,
            "output_tokens": output_tokens or OUTPUT_TOKENS,
        },
        "targets": [target],
    }
    root = Table(data, FLAGS, "")
    p = from_table(root, Path(FLAGS), os.environ if env is None else env)
    root.finish()
    return p


def warmup_for(duration_s: float) -> float:
    """The warm-up of a flags profile of DURATION_S: a tenth of it, at most 5 s."""
    return min(5.0, duration_s / 10)

"""Where a command's text goes: a file, or stdout."""

from __future__ import annotations

import sys
from pathlib import Path


def emit(text: str, output: str | None) -> None:
    """TEXT into the file OUTPUT (its name printed), or to stdout when OUTPUT is None or
    '-' (ending in a newline)."""
    if output in (None, "-"):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    Path(output).write_text(text, encoding="utf-8")
    print(output)

"""Where a command's text goes: a file, or stdout."""

from __future__ import annotations

import sys
from pathlib import Path

from loadtest.errors import RuntimeFailure


def emit(text: str, output: str | None) -> None:
    """TEXT into the file OUTPUT (its name printed), or to stdout when OUTPUT is None or
    '-' (ending in a newline)."""
    if output in (None, "-"):
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:  # a read-only folder, a full disk: one line, exit 3
        raise RuntimeFailure(f"{output}: cannot write ({exc.strerror}); -o - prints it") from None
    print(output)

"""Suite-wide settings."""

from __future__ import annotations

import os

# Every simulator a test starts (in this process or in a `loadtest` child) keeps an
# off-peak clock unless the test gives one: the presets slow down in US business
# hours, and a test's timings must not depend on the hour the suite runs at.
os.environ.setdefault("LOADTEST_SIM_START", "2026-11-22T03:00:00-05:00")

"""The browser the console's tests drive: Debian's `chromium` package, installed with apt when missing.

Playwright (a pip wheel in the test runner's venv) launches it by path; its own browser downloads
(`playwright install`) are never used, so nothing comes from outside the package manager and the index.
"""
from __future__ import annotations

from . import debian

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> str:
    return debian.ensure_command("chromium", "chromium")

"""The browser the console's tests drive: Debian's `chromium` package, installed with apt when missing.

Playwright (a pip wheel in the test runner's venv) launches it by path; its own browser downloads
(`playwright install`) are never used, so nothing comes from outside the package manager and the index.
"""
from __future__ import annotations

import shutil
import subprocess

from .ui import StackError

CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get"):
        print("installing chromium (Debian package) for the console's browser tests…", flush=True)
        for cmd in (["apt-get", "install", "-y", "-qq", "chromium"], ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "chromium"]):
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
            found = shutil.which("chromium")
            if found:
                return found
    raise StackError("chromium is not installed and could not be installed: apt-get install chromium")

"""Render HTML in headless Chromium with the network closed: screenshot, DOM and console log.

Uses Debian's ``chromium`` (``.ci/run`` installs it).  Every http(s) request goes to a dead proxy
and every host name fails to resolve, so a page that needs the internet shows it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
OFFLINE_FLAGS = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


def browser() -> str:
    """Path of a Chromium binary, or skip the test saying how to get one."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium found (apt-get install chromium; .ci/run does this)")
    raise AssertionError  # unreachable


@dataclass
class Rendered:
    """What the browser made of a page."""

    image: np.ndarray  # (height, width, 3) uint8
    dom: str
    console: list[str]

    def count(self, needle: str) -> int:
        """Occurrences of a string (e.g. a CSS class) in the rendered DOM."""
        return self.dom.count(needle)

    def pixels_near(self, hex_colour: str, tolerance: int = 24) -> int:
        """How many screenshot pixels are within ``tolerance`` of a colour on each channel."""
        rgb = np.array([int(hex_colour[k : k + 2], 16) for k in (1, 3, 5)])
        return int((np.abs(self.image.astype(int) - rgb).max(axis=2) <= tolerance).sum())

    def errors(self) -> list[str]:
        """Console errors and failed loads (uncaught exceptions, net:: errors)."""
        return [line for line in self.console if re.search(r"Uncaught|net::ERR|Failed to load|is not defined", line)]


def render(html: Path | str, png: Path, *, width: int = 1200, height: int = 900, budget_ms: int = 4000) -> Rendered:
    """Screenshot ``html`` (a file, or an http URL on loopback) into ``png`` and dump its DOM,
    offline (loopback stays reachable); returns both and the console."""
    from PIL import Image

    exe = browser()
    common = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},{height}",
              *OFFLINE_FLAGS, f"--virtual-time-budget={budget_ms}", "--enable-logging=stderr", "--v=0"]
    url = html if isinstance(html, str) else html.resolve().as_uri()
    run = subprocess.run([*common, f"--screenshot={png}", "--dump-dom", url], capture_output=True, text=True, timeout=120)  # one page load, both
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "net::ERR" in line]
    if not png.exists():
        raise AssertionError(f"the browser wrote no screenshot:\n{run.stderr[-2000:]}")
    image = np.asarray(Image.open(png).convert("RGB"))
    return Rendered(image, run.stdout, console)

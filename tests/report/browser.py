"""Headless Chromium as a reader opens a report: from file://, with no network, a screenshot and
the DOM after the page's scripts ran.

"No network": besides Chromium's own switches against background traffic, every request
goes to a proxy at 127.0.0.1:9 (discard: nothing listens), so a page that tried to load
anything from outside would render without it and show it.
"""

from __future__ import annotations

import html
import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 90.0
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
         "--window-size=1400,1000", "--virtual-time-budget=15000"]


@dataclass(frozen=True)
class Rendered:
    screenshot: Path
    dom: str

    @property
    def text(self) -> str:
        """The visible text: the DOM without scripts, styles and tags, whitespace folded."""
        body = re.sub(r"<(script|style)\b.*?</\1>", " ", self.dom, flags=re.DOTALL | re.IGNORECASE)
        return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def render(page: Path, screenshot: Path, profile: Path, fragment: str = "") -> Rendered:
    """Open `page` (file://, optional #fragment), save a screenshot, return it with the DOM."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make chromium` installs Debian's package"
    url = page.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                           "--dump-dom", url], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0 and screenshot.is_file(), proc.stderr[-2000:]
    return Rendered(screenshot, proc.stdout)


def ink(screenshot: Path) -> float:
    """The share of pixels that differ from the page's background colour (0 for a blank page)."""
    from PIL import Image

    with Image.open(screenshot) as image:
        small = image.convert("RGB").resize((image.width // 4, image.height // 4))
    pixels = list(small.getdata())
    background = Counter(pixels).most_common(1)[0][0]
    return sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 60) / len(pixels)

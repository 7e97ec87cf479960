"""Does an HTML report load anything from the network? The references a browser would fetch.

A report handed to an auditor, or opened on an air-gapped machine, must render from the file
alone and call nobody (Allure 2 adds an analytics script unless ALLURE_NO_ANALYTICS=true). What
counts: `<script src>`, `<link href>`, `<img src|srcset>`, `<iframe>`, `<source>`,
`<video>`/`<audio>`, `<embed src>`, `<object data>`, `<form action>`, and CSS `url()`/`@import`,
whose address is http(s) or protocol-relative (`//host/...`). A plain `<a href>` is a link a
reader may follow, not a load, and is not counted. The page's inline styles and the data: URIs
of CSS and HTML it embeds are read too; embedded scripts are searched for the same markup in
their strings (a script that writes `<script src="https://...">`), not executed.
"""

from __future__ import annotations

import base64
import binascii
import re
from html.parser import HTMLParser
from urllib.parse import unquote_to_bytes

_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
_LOADS = {
    "script": ("src",), "link": ("href",), "img": ("src", "srcset"), "iframe": ("src",), "frame": ("src",),
    "source": ("src", "srcset"), "video": ("src", "poster"), "audio": ("src",), "embed": ("src",),
    "object": ("data",), "form": ("action",), "track": ("src",), "input": ("src",), "image": ("href", "xlink:href"),
    "use": ("href", "xlink:href"),
}
_CSS_URL = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"])\s*((?:https?:)?//[^'")\s]+)""", re.IGNORECASE)
_MARKUP_IN_SCRIPT = re.compile(
    r"""<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*\\?['"]((?:https?:)?//[^'"\\]+)""", re.IGNORECASE)
_DATA_URI = re.compile(r"data:([\w.+-]+/[\w.+-]+)([^,\"']*?),([^\"')\s]+)", re.IGNORECASE)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in _LOADS.get(tag, ()):
                for part in value.split(",") if name == "srcset" else [value]:
                    if _REMOTE.match(part):
                        self.found.append(f"<{tag} {name}={part.strip().split()[0]}>")
            if name == "style":
                self.found += [f"style url {u}" for u in _CSS_URL.findall(value)]
        self._in = tag if tag in ("style", "script") else None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in = None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.found += [f"<style> url {u}" for u in _CSS_URL.findall(data)]
        elif self._in == "script":
            self.found += [f"<script> writes {u}" for u in _MARKUP_IN_SCRIPT.findall(data)]


def _decoded(params: str, payload: str) -> str | None:
    try:
        raw = base64.b64decode(payload, validate=False) if ";base64" in params.lower() else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", errors="replace")


def external_references(html: str, depth: int = 2) -> list[str]:
    """Every network load the page (and the CSS, HTML and scripts it embeds as data: URIs) would make."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    found = list(scanner.found)
    if depth <= 0:
        return found
    for kind, params, payload in _DATA_URI.findall(html):
        kind = kind.lower()
        if kind not in ("text/css", "text/html", "text/javascript", "application/javascript", "image/svg+xml"):
            continue
        text = _decoded(params, payload)
        if text is None:
            continue
        if kind == "text/css":
            found += [f"embedded CSS url {u}" for u in _CSS_URL.findall(text)]
        elif kind in ("text/html", "image/svg+xml"):
            found += [f"embedded {kind}: {ref}" for ref in external_references(text, depth - 1)]
        else:
            found += [f"embedded script writes {u}" for u in _MARKUP_IN_SCRIPT.findall(text)]
            found += [f"embedded script CSS url {u}" for u in _CSS_URL.findall(text)]
    return found

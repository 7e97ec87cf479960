"""Helpers shared by the text commands: reading operands (files or `-` for stdin),
bytes<->text without losing undecodable bytes, and POSIX regular expressions
(BRE/ERE) translated to Python's `re`."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from fuellab.node.commands import fsutil
from fuellab.node.context import CommandError, Context


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def split_lines(text: str) -> list[str]:
    """Lines without their newline; a missing final newline still gives a last line."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


class Inputs:
    """Reads operands in order; errors are printed as `prog: name: reason` and remembered."""

    def __init__(self, ctx: Context, prog: str) -> None:
        self.ctx = ctx
        self.prog = prog
        self.failed = False

    async def read(self, name: str) -> bytes | None:
        if name == "-":
            return await self.ctx.read_stdin()
        try:
            return fsutil.read_bytes(self.ctx, name, self.prog)
        except CommandError as exc:
            self.ctx.err(f"{exc}\n")
            self.failed = True
            return None

    async def each(self, names: list[str]) -> AsyncIterator[tuple[str, bytes]]:
        for name in names or ["-"]:
            data = await self.read(name)
            if data is not None:
                yield name, data


_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": " \\t\\n\\r\\f\\v", "blank": " \\t", "punct": "!-/:-@\\[-`{-~", "xdigit": "0-9A-Fa-f",
    "cntrl": "\\x00-\\x1f\\x7f", "print": " -~", "graph": "!-~",
}


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting at pattern[i] == '['; returns (regex, next i)."""
    j = i + 1
    out = ["["]
    if j < len(pattern) and pattern[j] == "^":
        out.append("^")
        j += 1
    first = True
    while j < len(pattern):
        c = pattern[j]
        if c == "]" and not first:
            out.append("]")
            return "".join(out), j + 1
        first = False
        if c == "[" and pattern[j + 1 : j + 2] == ":":
            end = pattern.find(":]", j + 2)
            if end > 0:
                out.append(_CLASSES.get(pattern[j + 2 : end], ""))
                j = end + 2
                continue
        if c == "[" and pattern[j + 1 : j + 2] in ("=", "."):
            close = pattern[j + 1] + "]"
            end = pattern.find(close, j + 2)
            if end > 0:
                out.append(re.escape(pattern[j + 2 : end]))
                j = end + 2
                continue
        if c in "\\[]&~|":
            out.append("\\" + c)  # literal in POSIX brackets, special to Python's
        else:
            out.append(c)
        j += 1
    raise CommandError("brackets ([ ]) not balanced", 2)


def posix_regex(pattern: str, extended: bool) -> str:
    """A POSIX BRE (or ERE when `extended`) as a Python regex."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "[":
            text, i = _bracket(pattern, i)
            out.append(text)
            continue
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            i += 2
            if not extended and nxt in "(){}|+?":
                out.append(nxt)  # \( \) \{ \} \| \+ \? are the BRE operators
            elif nxt.isdigit() or nxt in "wWsSbB<>`'":
                out.append({"<": r"\b(?=\w)", ">": r"\b(?<=\w)", "`": r"\A", "'": r"\Z"}.get(
                    nxt, "\\" + nxt))
            elif nxt == "n":
                out.append("\\n")
            elif nxt == "t":
                out.append("\\t")
            else:
                out.append(re.escape(nxt))
            continue
        if not extended and c in "(){}|+?":
            out.append("\\" + c)
        elif c == "*" and (not out or out[-1] in ("^", "(", "|") or (not extended and out[-1] == "(")):
            out.append("\\*")  # a leading star is literal
        elif c == "{" and extended and not re.match(r"\{\d*(,\d*)?\}", pattern[i:]):
            out.append("\\{")
        elif c == "^" and not extended and i != 0 and pattern[i - 1 : i] not in ("(",) and not (
                i >= 2 and pattern[i - 2 : i] in ("\\(", "\\|")):
            out.append("\\^")  # in a BRE, ^ anchors only at the start
        elif c == "$" and not extended and i != n - 1 and pattern[i + 1 : i + 3] not in ("\\)", "\\|"):
            out.append("\\$")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def compile_regex(pattern: str, extended: bool, ignore_case: bool = False, prog: str = "") -> re.Pattern[str]:
    try:
        return re.compile(posix_regex(pattern, extended), re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise CommandError(f"{prog}: invalid regular expression '{pattern}': {exc}", 2) from None

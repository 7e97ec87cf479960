"""GNU sed 4.2 over node files: -n, -e, -f, -i[SUFFIX], -E/-r, -s; addresses (N, $, /re/,
\\cREc, first~step, ranges, addr,+N, !), and the commands s, d, D, p, P, a, i, c, y, q, Q, =,
n, N, h, H, g, G, x, z, r, w, b, t, T, :label, { }. Regexes are POSIX (BRE, or ERE with -E)."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field

from fuellab.node.commands import command, fsutil, opts
from fuellab.node.commands.textio import decode, encode, posix_regex
from fuellab.node.context import CommandError, Context


class SedError(CommandError):
    def __init__(self, message: str) -> None:
        super().__init__(f"sed: {message}", 1)


@dataclass
class Address:
    kind: str  # line | last | regex | step | plus | tilde
    value: int = 0
    step: int = 0
    regex: re.Pattern[str] | None = None  # None with kind regex: the last regex used


@dataclass
class Cmd:
    name: str
    addr1: Address | None = None
    addr2: Address | None = None
    negate: bool = False
    text: str = ""  # a/i/c text, label, file name
    regex: re.Pattern[str] | None = None
    empty_regex: bool = False
    replacement: list[tuple[str, str | int]] = field(default_factory=list)
    global_: bool = False
    occurrence: int = 1
    print_: int = 0
    wfile: str | None = None
    exit_code: int = 0
    end: int = 0  # for `{`: index of the matching `}`
    # range state
    active: bool = False
    range_end: int = 0


class _Parser:
    def __init__(self, script: str, extended: bool) -> None:
        self.s = script
        self.i = 0
        self.extended = extended

    def error(self, message: str) -> SedError:
        return SedError(f"-e expression #1, char {self.i}: {message}")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def skip_ws(self, newlines: bool = False) -> None:
        while self.peek() and (self.peek() in " \t" or (newlines and self.peek() in "\n;")):
            self.i += 1

    def compile_re(self, pattern: str, flags: str) -> re.Pattern[str] | None:
        if pattern == "":
            return None
        py = posix_regex(pattern, self.extended)
        reflags = 0
        if "I" in flags or "i" in flags:
            reflags |= re.IGNORECASE
        if "M" in flags or "m" in flags:
            reflags |= re.MULTILINE
        try:
            return re.compile(py, reflags)
        except re.error as exc:
            raise self.error(f"invalid regex: {exc}") from None

    def delimited(self, delim: str, regex: bool = True) -> str:
        """Text up to an unescaped `delim`; `\\delim` becomes delim, `\\n` a newline."""
        out: list[str] = []
        while True:
            c = self.peek()
            if not c:
                raise self.error(f"unterminated `{'s' if regex else 'y'}' command")
            self.i += 1
            if c == delim:
                return "".join(out)
            if c == "\\":
                nxt = self.peek()
                self.i += 1
                if nxt == delim:
                    # a literal delimiter character, written so the regex dialect reads it so
                    special = ".*[]^$\\" + ("+?(){}|" if self.extended else "")
                    out.append("\\" + delim if regex and delim in special else delim)
                elif nxt == "n":
                    out.append("\n" if not regex else "\\n")
                elif nxt == "\n":
                    out.append("\n")
                else:
                    out.append("\\" + nxt)
                continue
            if c == "[" and regex:
                # a bracket expression may hold the delimiter unescaped
                end = self.i
                if self.s[end : end + 1] == "^":
                    end += 1
                if self.s[end : end + 1] == "]":
                    end += 1
                close = self.s.find("]", end)
                if close > 0 and "\n" not in self.s[self.i : close]:
                    out.append(self.s[self.i - 1 : close + 1])
                    self.i = close + 1
                    continue
            out.append(c)

    def address(self) -> Address | None:
        c = self.peek()
        if c.isdigit():
            m = re.compile(r"(\d+)(?:~(\d+))?").match(self.s, self.i)
            self.i = m.end()  # type: ignore[union-attr]
            if m.group(2) is not None:  # type: ignore[union-attr]
                return Address("step", int(m.group(1)), int(m.group(2)))  # type: ignore[union-attr]
            return Address("line", int(m.group(1)))  # type: ignore[union-attr]
        if c == "$":
            self.i += 1
            return Address("last")
        if c == "/" or c == "\\":
            if c == "\\":
                self.i += 1
                delim = self.peek()
            else:
                delim = "/"
            self.i += 1
            pattern = self.delimited(delim)
            flags = ""
            while self.peek() in ("I", "M"):
                flags += self.peek()
                self.i += 1
            return Address("regex", regex=self.compile_re(pattern, flags))
        return None

    def text_arg(self) -> str:
        """The text of a, i and c: `a\\` newline text..., or GNU's one-line `a text`."""
        self.skip_ws()
        if self.s.startswith("\\\n", self.i):
            self.i += 2
        elif self.peek() == "\\":
            self.i += 1
            self.skip_ws()
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == "\\" and self.i + 1 < len(self.s):
                out.append(self.s[self.i + 1])
                self.i += 2
                continue
            if c == "\n":
                self.i += 1
                break
            out.append(c)
            self.i += 1
        return "".join(out)

    def label(self) -> str:
        self.skip_ws()
        m = re.compile(r"[^;\n}]*").match(self.s, self.i)
        self.i = m.end()  # type: ignore[union-attr]
        return m.group(0).strip()  # type: ignore[union-attr]

    def filename(self) -> str:
        self.skip_ws()
        m = re.compile(r"[^\n]*").match(self.s, self.i)
        self.i = m.end()  # type: ignore[union-attr]
        return m.group(0)  # type: ignore[union-attr]

    def replacement(self, text: str) -> list[tuple[str, str | int]]:
        parts: list[tuple[str, str | int]] = []
        buf: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                i += 2
                if nxt.isdigit():
                    if buf:
                        parts.append(("lit", "".join(buf)))
                        buf.clear()
                    parts.append(("group", int(nxt)))
                elif nxt == "n":
                    buf.append("\n")
                elif nxt == "t":
                    buf.append("\t")
                elif nxt in "LUluE":
                    if buf:
                        parts.append(("lit", "".join(buf)))
                        buf.clear()
                    parts.append(("case", nxt))
                else:
                    buf.append(nxt)
                continue
            if c == "&":
                if buf:
                    parts.append(("lit", "".join(buf)))
                    buf.clear()
                parts.append(("group", 0))
            else:
                buf.append(c)
            i += 1
        if buf:
            parts.append(("lit", "".join(buf)))
        return parts

    def parse(self) -> list[Cmd]:
        cmds: list[Cmd] = []
        blocks: list[int] = []
        while True:
            self.skip_ws(newlines=True)
            if self.i >= len(self.s):
                break
            if self.peek() == "#":
                while self.peek() and self.peek() != "\n":
                    self.i += 1
                continue
            cmd = Cmd("")
            cmd.addr1 = self.address()
            if cmd.addr1 is not None and self.peek() == ",":
                self.i += 1
                self.skip_ws()
                m = re.compile(r"([+~])(\d+)").match(self.s, self.i)
                if m:
                    self.i = m.end()
                    cmd.addr2 = Address("plus" if m.group(1) == "+" else "tilde", int(m.group(2)))
                else:
                    cmd.addr2 = self.address()
                    if cmd.addr2 is None:
                        raise self.error("unexpected `,'")
            self.skip_ws()
            while self.peek() == "!":
                cmd.negate = True
                self.i += 1
                self.skip_ws()
            name = self.peek()
            if not name:
                raise self.error("missing command")
            self.i += 1
            cmd.name = name
            if name == "{":
                blocks.append(len(cmds))
            elif name == "}":
                if not blocks:
                    raise self.error("unexpected `}'")
                cmds[blocks.pop()].end = len(cmds)
            elif name in "aic":
                cmd.text = self.text_arg()
            elif name in ":btT":
                cmd.text = self.label()
                if name == ":" and not cmd.text:
                    raise self.error('":" lacks a label')
            elif name in "rRwW":
                cmd.text = self.filename()
            elif name in "qQ":
                self.skip_ws()
                m = re.compile(r"\d+").match(self.s, self.i)
                if m:
                    cmd.exit_code = int(m.group(0))
                    self.i = m.end()
            elif name == "s":
                self.parse_s(cmd)
            elif name == "y":
                delim = self.peek()
                self.i += 1
                src = self.delimited(delim, regex=False)
                dst = self.delimited(delim, regex=False)
                if len(src) != len(dst):
                    raise self.error("strings for `y' command are different lengths")
                cmd.text = src + "\0" + dst
            elif name in "=dDgGhHlnNpPxz":
                pass
            else:
                raise self.error(f"unknown command: `{name}'")
            cmds.append(cmd)
            self.skip_ws()
            if self.peek() == "}" or self.peek() == "#":
                continue
            if self.peek() and self.peek() not in ";\n" and cmd.name not in "{}":
                raise self.error("extra characters after command")
            if self.peek() in (";", "\n"):
                self.i += 1
        if blocks:
            raise self.error("unmatched `{'")
        return cmds

    def parse_s(self, cmd: Cmd) -> None:
        delim = self.peek()
        if not delim or delim in "\n\\":
            raise self.error("unterminated `s' command")
        self.i += 1
        pattern = self.delimited(delim)
        replacement = self.delimited(delim, regex=False)
        flags = ""
        while self.peek() and self.peek() in "gpiImMe0123456789w":
            c = self.peek()
            self.i += 1
            if c == "w":
                cmd.wfile = self.filename()
                break
            flags += c
        cmd.global_ = "g" in flags
        cmd.print_ = flags.count("p")
        number = re.search(r"\d+", flags)
        cmd.occurrence = int(number.group(0)) if number else 1
        cmd.regex = self.compile_re(pattern, flags.replace("m", "M").replace("i", "I"))
        cmd.empty_regex = pattern == ""
        cmd.replacement = self.replacement(replacement)


def _expand(parts: list[tuple[str, str | int]], m: re.Match[str]) -> str:
    out: list[str] = []
    mode = ""  # U or L until \E; one-shot u / l for the next character
    once = ""
    for kind, value in parts:
        if kind == "case":
            if value in ("U", "L"):
                mode = str(value)
            elif value == "E":
                mode = ""
            else:
                once = str(value)
            continue
        text = str(value) if kind == "lit" else (m.group(int(value)) or "")  # type: ignore[arg-type]
        if mode == "U":
            text = text.upper()
        elif mode == "L":
            text = text.lower()
        if once and text:
            text = (text[0].upper() if once == "u" else text[0].lower()) + text[1:]
            once = ""
        out.append(text)
    return "".join(out)


class _Run:
    """One sed execution over a stream of lines (one file with -i/-s, else all inputs)."""

    def __init__(self, ctx: Context, cmds: list[Cmd], quiet: bool) -> None:
        self.ctx = ctx
        self.cmds = cmds
        self.quiet = quiet
        self.last_regex: re.Pattern[str] | None = None
        self.hold = ""
        self.line_no = 0
        self.exit_code: int | None = None
        self.wfiles: dict[str, list[str]] = {}
        self.labels = {c.text: k for k, c in enumerate(cmds) if c.name == ":"}
        for cmd in cmds:
            if cmd.name in "btT" and cmd.text and cmd.text not in self.labels:
                raise SedError(f"-e expression #1, char 0: can't find label for jump to `{cmd.text}'")

    def regex(self, regex: re.Pattern[str] | None) -> re.Pattern[str]:
        if regex is None:
            if self.last_regex is None:
                raise SedError("no previous regular expression")
            return self.last_regex
        self.last_regex = regex
        return regex

    def matches(self, addr: Address, space: str, last: bool) -> bool:
        if addr.kind == "line":
            return self.line_no == addr.value
        if addr.kind == "last":
            return last
        if addr.kind == "step":
            if addr.step <= 0:
                return self.line_no == addr.value
            return self.line_no >= addr.value and (self.line_no - addr.value) % addr.step == 0
        return bool(self.regex(addr.regex).search(space))

    def selected(self, cmd: Cmd, space: str, last: bool) -> bool:
        if cmd.addr1 is None:
            return not cmd.negate
        if cmd.addr2 is None:
            return self.matches(cmd.addr1, space, last) != cmd.negate
        if cmd.active:
            a2 = cmd.addr2
            if a2.kind == "line":
                done = self.line_no >= a2.value
            elif a2.kind == "plus":
                done = self.line_no >= cmd.range_end
            elif a2.kind == "tilde":
                done = a2.value <= 0 or self.line_no % a2.value == 0
            else:
                done = self.matches(a2, space, last)
            if done or last:
                cmd.active = False
            return not cmd.negate
        if self.matches(cmd.addr1, space, last):
            a2 = cmd.addr2
            cmd.active = True
            if a2.kind == "line" and a2.value <= self.line_no:
                cmd.active = False
            elif a2.kind == "plus":
                cmd.range_end = self.line_no + a2.value
                cmd.active = a2.value > 0
            elif a2.kind == "tilde" and (a2.value <= 0 or self.line_no % a2.value == 0):
                cmd.active = False
            if last:
                cmd.active = False
            return not cmd.negate
        return cmd.negate

    def run(self, lines: list[str], final_newline: bool, out: list[str]) -> None:
        index = 0
        while index < len(lines) and self.exit_code is None:
            space = lines[index]
            index += 1
            self.line_no += 1
            appends: list[str] = []
            restart = False
            while True:
                last = index >= len(lines)
                pc = 0
                deleted = False
                substituted = False
                autoprint = not self.quiet
                while pc < len(self.cmds):
                    cmd = self.cmds[pc]
                    pc += 1
                    if cmd.name in ("}", ":"):
                        continue
                    if not self.selected(cmd, space, last):
                        if cmd.name == "{":
                            pc = cmd.end + 1
                        continue
                    name = cmd.name
                    if name == "{":
                        continue
                    if name == "s":
                        regex = self.regex(None if cmd.empty_regex else cmd.regex)
                        count = 0

                        def repl(m: re.Match[str], cmd: Cmd = cmd) -> str:
                            nonlocal count
                            count += 1
                            if count == cmd.occurrence or (cmd.global_ and count > cmd.occurrence):
                                return _expand(cmd.replacement, m)
                            return m.group(0)

                        new = regex.sub(repl, space, count=0 if cmd.global_ or cmd.occurrence > 1 else 1)
                        if count >= cmd.occurrence:
                            space = new
                            substituted = True
                            for _ in range(cmd.print_):
                                out.append(space + "\n")
                            if cmd.wfile:
                                self.write(cmd.wfile, space + "\n", out)
                    elif name == "d":
                        deleted = True
                        break
                    elif name == "D":
                        if "\n" in space:
                            space = space.split("\n", 1)[1]
                            restart = True
                        deleted = True
                        break
                    elif name == "p":
                        out.append(space + "\n")
                    elif name == "P":
                        out.append(space.split("\n", 1)[0] + "\n")
                    elif name == "=":
                        out.append(f"{self.line_no}\n")
                    elif name == "a":
                        appends.append(cmd.text + "\n")
                    elif name == "i":
                        out.append(cmd.text + "\n")
                    elif name == "c":
                        if cmd.addr2 is None or not cmd.active or cmd.negate:
                            out.append(cmd.text + "\n")
                        deleted = True
                        break
                    elif name == "r":
                        # GNU sed silently ignores an unreadable file
                        with contextlib.suppress(CommandError):
                            appends.append(decode(fsutil.read_bytes(self.ctx, cmd.text, "sed")))
                    elif name == "w":
                        self.write(cmd.text, space + "\n", out)
                    elif name == "y":
                        src, dst = cmd.text.split("\0")
                        space = space.translate({ord(a): b for a, b in zip(src, dst, strict=True)})
                    elif name == "h":
                        self.hold = space
                    elif name == "H":
                        self.hold += "\n" + space
                    elif name == "g":
                        space = self.hold
                    elif name == "G":
                        space += "\n" + self.hold
                    elif name == "x":
                        space, self.hold = self.hold, space
                    elif name == "z":
                        space = ""
                    elif name == "l":
                        out.append(space.encode("unicode_escape").decode() + "$\n")
                    elif name in ("n", "N"):
                        if index >= len(lines):
                            if name == "N" and self.quiet:
                                deleted = True
                            break  # no next line: GNU sed prints the space and ends
                        if name == "n":
                            if autoprint:
                                out.append(space + "\n")
                            out.extend(appends)
                            appends.clear()
                            space = lines[index]
                        else:
                            space += "\n" + lines[index]
                        index += 1
                        self.line_no += 1
                        last = index >= len(lines)
                    elif name in ("q", "Q"):
                        self.exit_code = cmd.exit_code
                        if name == "Q":
                            deleted = True
                        break
                    elif name in ("b", "t", "T"):
                        jump = name == "b" or (name == "t") == substituted
                        if name in ("t", "T"):
                            substituted = False
                        if jump:
                            pc = self.labels[cmd.text] if cmd.text else len(self.cmds)
                if not deleted and autoprint:
                    out.append(space + "\n")
                out.extend(appends)
                appends = []
                if restart and self.exit_code is None:
                    restart = False
                    continue
                break
        if not final_newline and out and out[-1].endswith("\n") and index >= len(lines):
            out[-1] = out[-1][:-1]

    def write(self, name: str, text: str, out: list[str]) -> None:
        if name == "/dev/stdout":
            out.append(text)
        elif name == "/dev/stderr":
            self.ctx.err(encode(text))
        else:
            self.wfiles.setdefault(name, []).append(text)

    def flush_wfiles(self) -> None:
        for name, chunks in self.wfiles.items():
            fsutil.write_bytes(self.ctx, name, encode("".join(chunks)), "sed")


def _lines(data: bytes) -> tuple[list[str], bool]:
    text = decode(data)
    if not text:
        return [], True
    final_newline = text.endswith("\n")
    lines = text.split("\n")
    if final_newline:
        lines.pop()
    return lines, final_newline


@command("sed")
async def sed(ctx: Context, argv: list[str]) -> int:
    # -i takes an optional attached suffix (-i.bak): rewrite it so the parser sees it.
    args = [argv[0]]
    suffix: str | None = None
    in_place = False
    for arg in argv[1:]:
        m = re.fullmatch(r"-([nrEsu]*)i(.*)", arg)
        if m and not arg.startswith("--"):
            in_place = True
            suffix = m.group(2) or None
            if m.group(1):
                args.append("-" + m.group(1))
            continue
        m = re.fullmatch(r"--in-place(?:=(.*))?", arg)
        if m:
            in_place = True
            suffix = m.group(1) or None
            continue
        args.append(arg)
    parsed = opts.parse(args, "ne:f:rEsu", ("quiet", "silent", "expression=", "file=",
                                            "regexp-extended", "separate", "unbuffered",
                                            "posix", "follow-symlinks"))
    scripts: list[str] = []
    for name, value in parsed.opts:
        if name in ("-e", "--expression"):
            scripts.append(value or "")
        elif name in ("-f", "--file"):
            data = await ctx.read_stdin() if value == "-" else fsutil.read_bytes(ctx, value or "", "sed")
            scripts.append(decode(data).rstrip("\n"))
    files = list(parsed.args)
    if not scripts:
        if not files:
            raise CommandError("Usage: sed [OPTION]... {script-only-if-no-other-script} [input-file]...", 1)
        scripts.append(files.pop(0))
    extended = parsed.has("-r", "-E", "--regexp-extended")
    cmds = _Parser("\n".join(scripts), extended).parse()
    quiet = parsed.has("-n", "--quiet", "--silent")
    status = 0
    if in_place:
        if not files:
            raise CommandError("sed: no input files")
        for name in files:
            try:
                data = fsutil.read_bytes(ctx, name, "sed")
            except CommandError as exc:
                ctx.err(f"sed: can't read {name}: {str(exc).rsplit(': ', 1)[-1]}\n")
                status = 2
                continue
            run = _Run(ctx, _fresh(cmds), quiet)
            lines, final_newline = _lines(data)
            out: list[str] = []
            run.run(lines, final_newline, out)
            if suffix:
                backup = suffix.replace("*", name.rsplit("/", 1)[-1]) if "*" in suffix else name + suffix
                fsutil.write_bytes(ctx, backup, data, "sed")
            _replace_file(ctx, name, encode("".join(out)))
            run.flush_wfiles()
            if run.exit_code is not None:
                return run.exit_code
        return status
    run = _Run(ctx, cmds, quiet)
    out = []
    separate = parsed.has("-s", "--separate")
    all_lines: list[str] = []
    final_newline = True
    for name in files or ["-"]:
        if name == "-":
            data = await ctx.read_stdin()
        else:
            try:
                data = fsutil.read_bytes(ctx, name, "sed")
            except CommandError as exc:
                ctx.err(f"sed: can't read {name}: {str(exc).rsplit(': ', 1)[-1]}\n")
                status = 2
                continue
        lines, final_newline = _lines(data)
        if separate:
            run.run(lines, final_newline, out)
        else:
            all_lines.extend(lines)
    if not separate:
        run.run(all_lines, final_newline, out)
    ctx.out(encode("".join(out)))
    run.flush_wfiles()
    return run.exit_code if run.exit_code is not None else status


def _fresh(cmds: list[Cmd]) -> list[Cmd]:
    for cmd in cmds:
        cmd.active = False
    return cmds


def _replace_file(ctx: Context, name: str, data: bytes) -> None:
    """sed -i writes a new file and renames it over the old one, keeping the mode."""
    target = ctx.path(name)
    tmp = target.with_name(f".sed{target.name}.fuellab-tmp")
    mode = target.stat().st_mode & 0o7777
    tmp.write_bytes(data)
    tmp.chmod(mode)
    tmp.replace(target)

"""Small coreutils: echo, printf, test/[, true, false, pwd, sleep, env, date, seq, basename,
dirname (`id`, which knows the node's accounts, is in system.py). echo, printf, test, true,
false and pwd are also bash builtins: the shell runs these same functions without
looking at the node's PATH."""

from __future__ import annotations

import posixpath
import re
import stat as stat_mod
import time

from fuellab.node.commands import command, fsutil, opts
from fuellab.node.context import CommandError, Context

# --------------------------------------------------------------------------- echo / printf

_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
            "v": "\v", "\\": "\\"}


def backslash_escapes(text: str, octal_zero: bool = True) -> tuple[str, bool]:
    """Interpret echo -e / printf %b escapes; the flag says `\\c` asked to stop output."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 >= len(text):
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "c":
            return "".join(out), True
        elif nxt == "x":
            m = re.compile(r"[0-9a-fA-F]{1,2}").match(text, i + 2)
            if m:
                out.append(chr(int(m.group(0), 16)))
                i = m.end()
            else:
                out.append("\\x")
                i += 2
        elif nxt == "0" and octal_zero or nxt in "01234567" and not octal_zero:
            start = i + 2 if octal_zero else i + 1
            m = re.compile(r"[0-7]{0,3}").match(text, start)
            out.append(chr(int(m.group(0) or "0", 8) & 0xFF))  # type: ignore[union-attr]
            i = m.end()  # type: ignore[union-attr]
        else:
            out.append("\\" + nxt)
            i += 2
    return "".join(out), False


@command("echo")
async def echo(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for flag in args.pop(0)[1:]:
            if flag == "n":
                newline = False
            else:
                escapes = flag == "e"
    text = " ".join(args)
    if escapes:
        text, stop = backslash_escapes(text)
        if stop:
            ctx.out(text)
            return 0
    ctx.out(text + ("\n" if newline else ""))
    return 0


_SPEC = re.compile(r"%([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?([diouxXfFeEgGcsbq%])")


def _number(text: str, prog: str, ctx: Context, errors: list[str]) -> int | float:
    raw = text.strip()
    if raw[:1] in ("'", '"') and len(raw) >= 2:
        return ord(raw[1])
    try:
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", raw):
            return int(raw, 16)
        if re.fullmatch(r"[-+]?0[0-7]+", raw):
            return int(raw, 8)
        return int(raw or "0")
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            errors.append(f"{prog}: {text}: invalid number")
            return 0


def format_printf(fmt: str, args: list[str], prog: str, ctx: Context) -> tuple[str, list[str]]:
    """Apply printf's format as many times as needed to consume every argument."""
    out: list[str] = []
    errors: list[str] = []
    fmt_text, _ = backslash_escapes(fmt, octal_zero=False)
    queue = list(args)
    while True:
        used = False
        pos = 0
        for m in _SPEC.finditer(fmt_text):
            out.append(fmt_text[pos : m.start()])
            pos = m.end()
            flags, width, precision, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            if width == "*":
                width = str(int(_number(queue.pop(0), prog, ctx, errors))) if queue else "0"
            if precision == "*":
                precision = str(int(_number(queue.pop(0), prog, ctx, errors))) if queue else "0"
            arg = queue.pop(0) if queue else None
            used = used or arg is not None
            spec = f"%{flags}{width or ''}{'.' + precision if precision is not None else ''}"
            if conv in "diouxX":
                value = int(_number(arg, prog, ctx, errors)) if arg is not None else 0
                pyconv = "d" if conv in "diu" else conv
                out.append((spec + pyconv) % value)
            elif conv in "fFeEgG":
                value = float(_number(arg, prog, ctx, errors)) if arg is not None else 0.0
                out.append((spec + conv) % value)
            elif conv == "c":
                out.append((spec + "s") % ((arg or "")[:1]))
            elif conv == "b":
                text, stop = backslash_escapes(arg or "")
                out.append((spec + "s") % text)
                if stop:
                    return "".join(out), errors
            elif conv == "q":
                import shlex

                out.append((spec + "s") % shlex.quote(arg or ""))
            else:
                out.append((spec + "s") % (arg or ""))
        out.append(fmt_text[pos:])
        if not queue or not used:
            break
    return "".join(out), errors


@command("printf")
async def printf(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        raise CommandError("printf: usage: printf [-v var] format [arguments]", 2)
    text, errors = format_printf(args[0], args[1:], argv[0], ctx)
    ctx.out(text)
    for error in errors:
        ctx.err(error + "\n")
    return 1 if errors else 0


# --------------------------------------------------------------------------- test / [

_UNARY = {"-e", "-f", "-d", "-s", "-r", "-w", "-x", "-L", "-h", "-z", "-n", "-b", "-c", "-p",
          "-S", "-g", "-u", "-k", "-t", "-O", "-G", "-N", "-a"}
_BINARY = {"=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef"}


class _TestSyntax(Exception):
    pass


class _Test:
    def __init__(self, ctx: Context, prog: str, tokens: list[str]) -> None:
        self.ctx = ctx
        self.prog = prog
        self.t = tokens
        self.i = 0

    def run(self) -> bool:
        if not self.t:
            return False
        value = self.expr()
        if self.i != len(self.t):
            raise _TestSyntax(f"{self.t[self.i]}: unexpected operator"
                              if self.i < len(self.t) else "syntax error")
        return value

    def expr(self) -> bool:
        value = self.and_()
        while self.i < len(self.t) and self.t[self.i] == "-o" and self.i + 1 < len(self.t):
            self.i += 1
            right = self.and_()
            value = value or right
        return value

    def and_(self) -> bool:
        value = self.not_()
        while self.i < len(self.t) and self.t[self.i] == "-a" and self.i + 1 < len(self.t):
            self.i += 1
            right = self.not_()
            value = value and right
        return value

    def not_(self) -> bool:
        remaining = len(self.t) - self.i
        # `! = x` compares the string "!"; otherwise `!` negates.
        if (self.i < len(self.t) and self.t[self.i] == "!" and remaining > 1
                and not (remaining == 3 and self.t[self.i + 1] in _BINARY)):
            self.i += 1
            return not self.not_()
        return self.primary()

    def primary(self) -> bool:
        t, i = self.t, self.i
        if i >= len(t):
            raise _TestSyntax("argument expected")
        if i + 2 < len(t) and t[i + 1] in _BINARY:
            self.i += 3
            return self.binary(t[i], t[i + 1], t[i + 2])
        if t[i] == "(" and len(t) - i >= 2:
            self.i += 1
            value = self.expr()
            if self.i >= len(t) or t[self.i] != ")":
                raise _TestSyntax("')' expected")
            self.i += 1
            return value
        if t[i] in _UNARY and i + 1 < len(t):
            self.i += 2
            return self.unary(t[i], t[i + 1])
        self.i += 1
        return t[i] != ""

    def integer(self, text: str) -> int:
        try:
            return int(text.strip())
        except ValueError:
            raise _TestSyntax(f"{text}: integer expression expected") from None

    def binary(self, left: str, op: str, right: str) -> bool:
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        if op == "<":
            return left < right
        if op == ">":
            return left > right
        if op in ("-nt", "-ot", "-ef"):
            try:
                a, b = fsutil.stat(self.ctx, left), fsutil.stat(self.ctx, right)
            except OSError:
                return False
            if op == "-ef":
                return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
            return a.st_mtime > b.st_mtime if op == "-nt" else a.st_mtime < b.st_mtime
        a, b = self.integer(left), self.integer(right)
        return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b,
                "-ge": a >= b}[op]

    def unary(self, op: str, arg: str) -> bool:
        if op == "-z":
            return arg == ""
        if op == "-n":
            return arg != ""
        if op == "-t":
            return False  # never a terminal: the lab serves exec requests without a pty
        ctx = self.ctx
        if op in ("-L", "-h"):
            return fsutil.exists(ctx, arg, follow=False) and stat_mod.S_ISLNK(
                fsutil.lstat(ctx, arg).st_mode)
        if not fsutil.exists(ctx, arg):
            return False
        abspath = ctx.abspath(arg)
        if abspath in fsutil.DEVICES:
            return op in ("-e", "-a", "-c", "-r", "-w")
        try:
            st = fsutil.stat(ctx, arg)
        except OSError:
            return False
        mode = st.st_mode
        checks = {
            "-e": True, "-a": True,
            "-f": stat_mod.S_ISREG(mode),
            "-d": stat_mod.S_ISDIR(mode),
            "-s": st.st_size > 0 or stat_mod.S_ISDIR(mode),
            "-r": True, "-w": True,  # root reads and writes everything
            "-x": stat_mod.S_ISDIR(mode) or bool(mode & 0o111),
            "-b": stat_mod.S_ISBLK(mode), "-c": stat_mod.S_ISCHR(mode),
            "-p": stat_mod.S_ISFIFO(mode), "-S": stat_mod.S_ISSOCK(mode),
            "-g": bool(mode & stat_mod.S_ISGID), "-u": bool(mode & stat_mod.S_ISUID),
            "-k": bool(mode & stat_mod.S_ISVTX), "-O": True, "-G": True,
            "-N": st.st_mtime > st.st_atime,
        }
        return checks[op]


@command("test", "[")
async def test(ctx: Context, argv: list[str]) -> int:
    prog = posixpath.basename(argv[0])
    tokens = argv[1:]
    if prog == "[":
        if not tokens or tokens[-1] != "]":
            raise CommandError("[: missing `]'", 2)
        tokens = tokens[:-1]
    try:
        return 0 if _Test(ctx, prog, tokens).run() else 1
    except _TestSyntax as exc:
        raise CommandError(f"{prog}: {exc}", 2) from None


@command("true")
async def true(ctx: Context, argv: list[str]) -> int:
    return 0


@command("false")
async def false(ctx: Context, argv: list[str]) -> int:
    return 1


@command("pwd")
async def pwd(ctx: Context, argv: list[str]) -> int:
    ctx.out(ctx.cwd + "\n")
    return 0


# --------------------------------------------------------------------------- sleep, env, date

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@command("sleep")
async def sleep(ctx: Context, argv: list[str]) -> int:
    """Sleeps in lab time: `sleep 5` lasts 5 lab seconds."""
    if len(argv) < 2:
        raise CommandError("sleep: missing operand\nTry 'sleep --help' for more information.")
    total = 0.0
    for arg in argv[1:]:
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", arg)
        if not m:
            raise CommandError(f"sleep: invalid time interval '{arg}'\n"
                               "Try 'sleep --help' for more information.")
        total += float(m.group(1)) * _UNITS[m.group(2)]
    await ctx.lab.clock.sleep(total)
    return 0


@command("env")
async def env(ctx: Context, argv: list[str]) -> int:
    from fuellab.node.shell.interpreter import run_argv

    parsed = opts.parse(argv, "iu:0", ("ignore-environment", "unset=", "null"), status=125,
                        permute=False)
    environ = {} if parsed.has("-i", "--ignore-environment") else dict(ctx.env)
    for name in parsed.values("-u", "--unset"):
        environ.pop(name, None)
    args = list(parsed.args)
    if args and args[0] == "-":
        environ = {}
        args = args[1:]
    while args and "=" in args[0] and not args[0].startswith("="):
        name, _, value = args.pop(0).partition("=")
        environ[name] = value
    if not args:
        end = "\0" if parsed.has("-0", "--null") else "\n"
        ctx.out("".join(f"{k}={v}{end}" for k, v in environ.items()))
        return 0
    return await run_argv(ctx, args, environ, prog="env")


@command("date")
async def date(ctx: Context, argv: list[str]) -> int:
    """The node's clock is the lab host's clock (file times are the host's too)."""
    parsed = opts.parse(argv, "uRd:", ("utc", "rfc-2822", "date=", "iso-8601"), permute=True)
    now = time.time()
    when = parsed.value("-d", "--date")
    if when is not None:
        m = re.fullmatch(r"@(-?\d+(?:\.\d+)?)", when.strip())
        if m:
            now = float(m.group(1))
        elif when.strip() not in ("now", ""):
            raise CommandError(f"date: invalid date '{when}'")
    utc = parsed.has("-u", "--utc") or ctx.env.get("TZ", "UTC") in ("UTC", "UTC0", "")
    tm = time.gmtime(now) if utc else time.localtime(now)
    fmt = "%a %b %e %H:%M:%S %Z %Y"
    if parsed.has("-R", "--rfc-2822"):
        fmt = "%a, %d %b %Y %H:%M:%S %z"
    if parsed.has("--iso-8601"):
        fmt = "%Y-%m-%d"
    for arg in parsed.args:
        if arg.startswith("+"):
            fmt = arg[1:]
        else:
            raise CommandError(f"date: invalid date '{arg}'")
    fmt = fmt.replace("%s", str(int(now))).replace("%N", f"{int((now % 1) * 1e9):09d}")
    text = time.strftime(fmt, tm)
    if utc:
        text = text.replace("GMT", "UTC")
    ctx.out(text + "\n")
    return 0


# --------------------------------------------------------------------------- seq, basename, dirname


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CommandError(f"seq: invalid floating point argument: '{text}'\n"
                           "Try 'seq --help' for more information.") from None


@command("seq")
async def seq(ctx: Context, argv: list[str]) -> int:
    args = argv[1:]
    sep, width = "\n", False
    fmt = None
    while args and args[0].startswith("-") and not re.fullmatch(r"-\d+(\.\d+)?", args[0]):
        flag = args.pop(0)
        if flag == "-s" and args:
            sep = args.pop(0)
        elif flag.startswith("-s"):
            sep = flag[2:]
        elif flag == "-w":
            width = True
        elif flag == "-f" and args:
            fmt = args.pop(0)
        elif flag == "--":
            break
    if not 1 <= len(args) <= 3:
        raise CommandError("seq: missing operand\nTry 'seq --help' for more information.")
    nums = [_num(a) for a in args]
    first, step, last = (1.0, 1.0, nums[0]) if len(nums) == 1 else (
        (nums[0], 1.0, nums[1]) if len(nums) == 2 else (nums[0], nums[1], nums[2]))
    if step == 0:
        raise CommandError("seq: invalid Zero increment value: '0'")
    integral = all(float(n).is_integer() for n in (first, step, last)) and not any("." in a for a in args)
    values = []
    value = first
    while (step > 0 and value <= last) or (step < 0 and value >= last):
        values.append(value)
        value = first + step * len(values)
    if fmt:
        shown = [fmt % v for v in values]
    elif integral:
        shown = [str(int(v)) for v in values]
    else:
        decimals = max((len(a.split(".")[1]) if "." in a else 0) for a in args)
        shown = [f"{v:.{decimals}f}" for v in values]
    if width and shown:
        size = max(len(s) for s in shown)
        shown = [s.zfill(size) for s in shown]
    if shown:
        ctx.out(sep.join(shown) + "\n")
    return 0


@command("basename")
async def basename(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "as:z", ("multiple", "suffix=", "zero"))
    suffix = parsed.value("-s", "--suffix")
    names = parsed.args
    if not names:
        raise CommandError("basename: missing operand\nTry 'basename --help' for more information.")
    if not parsed.has("-a", "--multiple") and suffix is None:
        if len(names) > 2:
            raise CommandError(f"basename: extra operand '{names[2]}'")
        if len(names) == 2:
            names, suffix = names[:1], names[1]
    end = "\0" if parsed.has("-z", "--zero") else "\n"
    for name in names:
        stripped = name.rstrip("/") or ("/" if name else "")
        base = stripped.rsplit("/", 1)[-1] if stripped != "/" else "/"
        if suffix and base.endswith(suffix) and base != suffix:
            base = base[: -len(suffix)]
        ctx.out(base + end)
    return 0


@command("dirname")
async def dirname(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "z", ("zero",))
    if not parsed.args:
        raise CommandError("dirname: missing operand\nTry 'dirname --help' for more information.")
    end = "\0" if parsed.has("-z", "--zero") else "\n"
    for name in parsed.args:
        stripped = name.rstrip("/")
        if not stripped:
            ctx.out(("/" if name else ".") + end)
            continue
        head = stripped.rsplit("/", 1)[0] if "/" in stripped else "."
        ctx.out((head.rstrip("/") or "/") + end)
    return 0

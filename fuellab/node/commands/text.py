"""Text coreutils over files and stdin: cat, grep/egrep/fgrep, cut, head, tail, wc, sort,
uniq, tr, tee, md5sum, sha256sum. Output and exit statuses follow GNU coreutils and
grep 2.16 (Ubuntu 14.04)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import posixpath
import re
from collections.abc import Callable

from fuellab.node.commands import command, fsutil, opts
from fuellab.node.commands.textio import Inputs, compile_regex, decode, encode, split_lines
from fuellab.node.context import CommandError, Context

# --------------------------------------------------------------------------- cat


def _visible(line: str, tabs: bool) -> str:
    out = []
    for ch in line:
        code = ord(ch)
        if ch == "\t" and not tabs:
            out.append(ch)
        elif code < 32 or code == 127:
            out.append("^" + chr(code ^ 0x40))
        else:
            out.append(ch)
    return "".join(out)


@command("cat")
async def cat(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "AbeEnstTuv", ("show-all", "number-nonblank", "show-ends", "number",
                                              "squeeze-blank", "show-tabs", "show-nonprinting"))
    has = parsed.has
    number_all = has("-n", "--number")
    number_blank = has("-b", "--number-nonblank")
    ends = has("-E", "-A", "-e", "--show-ends", "--show-all")
    tabs = has("-T", "-A", "-t", "--show-tabs", "--show-all")
    nonprint = has("-v", "-A", "-e", "-t", "--show-nonprinting", "--show-all")
    squeeze = has("-s", "--squeeze-blank")
    plain = not (number_all or number_blank or ends or tabs or nonprint or squeeze)
    inputs = Inputs(ctx, "cat")
    count = 0
    blank_run = False
    async for _, data in inputs.each(parsed.args):
        if plain:
            ctx.out(data)
            continue
        text = decode(data)
        pieces = text.split("\n")
        for k, line in enumerate(pieces):
            last = k == len(pieces) - 1
            if last and line == "":
                break
            if squeeze and line == "":
                if blank_run:
                    continue
                blank_run = True
            else:
                blank_run = False
            shown = _visible(line, tabs) if nonprint or tabs else line
            if tabs:
                shown = shown.replace("\t", "^I")
            prefix = ""
            if number_blank and line != "" or number_all and not number_blank:
                count += 1
                prefix = f"{count:6d}\t"
            ctx.out(encode(prefix + shown + ("$" if ends and not last else "") + ("" if last else "\n")))
    return 1 if inputs.failed else 0


# --------------------------------------------------------------------------- grep


@command("grep", "egrep", "fgrep")
async def grep(ctx: Context, argv: list[str]) -> int:
    prog = posixpath.basename(argv[0])
    parsed = opts.parse(
        argv, "EFGPe:f:ivwxyclLqsrRnhHom:abA:B:C:Z",
        ("extended-regexp", "fixed-strings", "basic-regexp", "perl-regexp", "regexp=", "file=",
         "ignore-case", "invert-match", "word-regexp", "line-regexp", "count",
         "files-with-matches", "files-without-match", "quiet", "silent", "no-messages",
         "recursive", "dereference-recursive", "line-number", "no-filename", "with-filename",
         "only-matching", "max-count=", "text", "color=", "colour=", "color", "colour",
         "include=", "exclude=", "exclude-dir=", "null", "after-context=", "before-context=",
         "context=", "label="),
        status=2,
    )
    has = parsed.has
    mode = {"egrep": "E", "fgrep": "F"}.get(prog, "G")
    for name, _ in parsed.opts:
        if name in ("-E", "--extended-regexp"):
            mode = "E"
        elif name in ("-F", "--fixed-strings"):
            mode = "F"
        elif name in ("-G", "--basic-regexp"):
            mode = "G"
        elif name in ("-P", "--perl-regexp"):
            mode = "P"
    args = list(parsed.args)
    patterns: list[str] = []
    for value in parsed.values("-e", "--regexp"):
        patterns.extend(value.split("\n"))
    for path in parsed.values("-f", "--file"):
        data = await ctx.read_stdin() if path == "-" else fsutil.read_bytes(ctx, path, prog)
        patterns.extend(split_lines(decode(data)))
    if not parsed.values("-e", "--regexp") and not parsed.values("-f", "--file"):
        if not args:
            raise CommandError(f"Usage: {prog} [OPTION]... PATTERN [FILE]...\n"
                               f"Try '{prog} --help' for more information.", 2)
        patterns = args.pop(0).split("\n")
    ignore = has("-i", "-y", "--ignore-case")
    word = has("-w", "--word-regexp")
    whole = has("-x", "--line-regexp")
    regexes = []
    for pattern in patterns:
        if mode == "F":
            body = re.escape(pattern)
        elif mode == "P":
            body = pattern
        else:
            body = compile_regex(pattern, mode == "E", prog=prog).pattern
        if whole:
            body = f"(?:{body})\\Z"
        elif word:
            body = f"(?<![A-Za-z0-9_])(?:{body})(?![A-Za-z0-9_])"
        try:
            regexes.append(re.compile(body, re.IGNORECASE if ignore else 0))
        except re.error as exc:
            raise CommandError(f"{prog}: {exc}", 2) from None

    recursive = has("-r", "-R", "--recursive", "--dereference-recursive")
    quiet = has("-q", "--quiet", "--silent")
    silent = has("-s", "--no-messages")
    invert = has("-v", "--invert-match")
    count_only = has("-c", "--count")
    list_files = has("-l", "--files-with-matches")
    list_missing = has("-L", "--files-without-match")
    line_numbers = has("-n", "--line-number")
    only = has("-o", "--only-matching")
    max_count = parsed.value("-m", "--max-count")
    limit = int(max_count) if max_count is not None else None
    includes = parsed.values("--include")
    context = parsed.value("-C", "--context")
    after = int(parsed.value("-A", "--after-context", default=context or "0") or 0)
    before = int(parsed.value("-B", "--before-context", default=context or "0") or 0)

    files = args or (["."] if recursive else ["-"])
    targets: list[str] = []
    errors = False
    for name in files:
        if recursive and name != "-" and fsutil.is_dir(ctx, name):
            targets.extend(_walk_files(ctx, name, includes))
        else:
            targets.append(name)
    show_names = (len(targets) > 1 or recursive) and not has("-h", "--no-filename")
    if has("-H", "--with-filename"):
        show_names = True

    matched_any = False
    for name in targets:
        if name == "-":
            data = await ctx.read_stdin()
            label = parsed.value("--label", default="(standard input)")
        else:
            if fsutil.is_dir(ctx, name):
                if not silent:
                    ctx.err(f"{prog}: {name}: Is a directory\n")
                errors = True
                continue
            try:
                data = fsutil.read_bytes(ctx, name, prog)
            except CommandError as exc:
                errors = True
                if not silent:
                    ctx.err(f"{exc}\n")
                continue
            label = name
        lines = split_lines(decode(data))
        hits = 0
        out: list[str] = []
        last_printed = 0  # line number of the last line printed (for context and `--`)
        pending_after = 0
        for number, line in enumerate(lines, 1):
            found = [m for r in regexes for m in ([r.search(line)] if not only else r.finditer(line)) if m]
            if bool(found) == invert:
                if pending_after and not (count_only or list_files or list_missing or only):
                    out.append((f"{label}-" if show_names else "") + (f"{number}-" if line_numbers else "")
                               + line + "\n")
                    last_printed = number
                    pending_after -= 1
                continue
            hits += 1
            if quiet:
                return 0
            if not (count_only or list_files or list_missing):
                if (before or after) and not only:
                    first = max(number - before, last_printed + 1, 1)
                    if last_printed and first > last_printed + 1:
                        out.append("--\n")
                    for k in range(first, number):
                        out.append((f"{label}-" if show_names else "") + (f"{k}-" if line_numbers else "")
                                   + lines[k - 1] + "\n")
                    last_printed = number
                    pending_after = after
                prefix = (f"{label}:" if show_names else "") + (f"{number}:" if line_numbers else "")
                if only and not invert:
                    out.extend(f"{prefix}{m.group(0)}\n" for m in sorted(found, key=lambda m: m.start())
                               if m.group(0))
                else:
                    out.append(f"{prefix}{line}\n")
            if limit is not None and hits >= limit:
                break
        if hits:
            matched_any = True
        if list_files:
            if hits:
                ctx.out(f"{label}\n")
        elif list_missing:
            if not hits:
                ctx.out(f"{label}\n")
        elif count_only:
            ctx.out(f"{label}:{hits}\n" if show_names else f"{hits}\n")
        elif out:
            if "\0" in decode(data) and not has("-a", "--text"):
                ctx.out(f"Binary file {label} matches\n")
            else:
                ctx.out(encode("".join(out)))
    if errors and not (quiet and matched_any):
        return 2
    return 0 if matched_any else 1


def _walk_files(ctx: Context, top: str, includes: list[str]) -> list[str]:
    import fnmatch

    found = []
    for name in sorted(fsutil.listdir(ctx, top)):
        path = posixpath.join(top, name)
        if fsutil.is_dir(ctx, path) and not ctx.path(path).is_symlink():
            found.extend(_walk_files(ctx, path, includes))
        elif not includes or any(fnmatch.fnmatchcase(name, p) for p in includes):
            found.append(path)
    return found


# --------------------------------------------------------------------------- cut


def _ranges(spec: str, prog: str) -> list[tuple[int, int]]:
    ranges = []
    for item in spec.split(","):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", item.strip())
        if not m or not (m.group(1) or m.group(3)):
            raise CommandError(f"{prog}: invalid field range\nTry '{prog} --help' for more information.")
        start = int(m.group(1)) if m.group(1) else 1
        if start == 0:
            raise CommandError(f"{prog}: fields and positions are numbered from 1\n"
                               f"Try '{prog} --help' for more information.")
        end = int(m.group(3)) if m.group(3) else (start if not m.group(2) else 1 << 30)
        ranges.append((start, end))
    return ranges


def _selected(index: int, ranges: list[tuple[int, int]]) -> bool:
    return any(a <= index <= b for a, b in ranges)


@command("cut")
async def cut(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "b:c:d:f:sn", ("bytes=", "characters=", "delimiter=", "fields=",
                                             "only-delimited", "output-delimiter=", "complement"))
    fields = parsed.value("-f", "--fields")
    chars = parsed.value("-c", "--characters") or parsed.value("-b", "--bytes")
    if (fields is None) == (chars is None):
        raise CommandError("cut: you must specify a list of bytes, characters, or fields\n"
                           "Try 'cut --help' for more information.")
    delim = parsed.value("-d", "--delimiter", default="\t")
    if len(delim) != 1:  # type: ignore[arg-type]
        raise CommandError("cut: the delimiter must be a single character\n"
                           "Try 'cut --help' for more information.")
    ranges = _ranges(fields or chars, "cut")  # type: ignore[arg-type]
    complement = parsed.has("--complement")
    out_delim = parsed.value("--output-delimiter", default=delim if fields else "")
    only_delimited = parsed.has("-s", "--only-delimited")
    inputs = Inputs(ctx, "cut")
    out: list[str] = []
    async for _, data in inputs.each(parsed.args):
        for line in split_lines(decode(data)):
            if fields is not None:
                if delim not in line:
                    if not only_delimited:
                        out.append(line + "\n")
                    continue
                parts = line.split(delim)  # type: ignore[arg-type]
                keep = [p for i, p in enumerate(parts, 1) if _selected(i, ranges) != complement]
                out.append(out_delim.join(keep) + "\n")  # type: ignore[union-attr]
            else:
                keep = [c for i, c in enumerate(line, 1) if _selected(i, ranges) != complement]
                out.append("".join(keep) + "\n")
    ctx.out(encode("".join(out)))
    return 1 if inputs.failed else 0


# --------------------------------------------------------------------------- head / tail


def _legacy_count(argv: list[str]) -> list[str]:
    """`head -5` means `head -n 5` (but in `head -n -5`, -5 is the option's value)."""
    out = [argv[0]]
    for arg in argv[1:]:
        takes_value = out[-1] in ("-n", "-c", "--lines", "--bytes")
        out.append(f"-n{arg[1:]}" if re.fullmatch(r"-\d+", arg) and not takes_value else arg)
    return out


def _count(value: str, prog: str) -> tuple[int, str]:
    m = re.fullmatch(r"([+-]?)(\d+)([kKmMbB]?)", value)
    if not m:
        raise CommandError(f"{prog}: invalid number of lines: '{value}'")
    mult = {"": 1, "b": 512, "k": 1024, "K": 1024, "m": 1 << 20, "M": 1 << 20, "B": 512}[m.group(3)]
    return int(m.group(2)) * mult, m.group(1)


def _chunks(data: bytes) -> list[bytes]:
    """Lines with their newline kept."""
    lines = data.split(b"\n")
    result = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        result.append(lines[-1])
    return result


def _head_bytes(data: bytes, count: int, sign: str) -> bytes:
    return data[: len(data) - count] if sign == "-" else data[:count]


def _head_lines(lines: list[bytes], count: int, sign: str) -> list[bytes]:
    return lines[: len(lines) - count] if sign == "-" else lines[:count]


def _tail_bytes(data: bytes, count: int, sign: str) -> bytes:
    return data[count - 1 :] if sign == "+" else (data[-count:] if count else b"")


def _tail_lines(lines: list[bytes], count: int, sign: str) -> list[bytes]:
    return lines[max(count - 1, 0) :] if sign == "+" else (lines[-count:] if count else [])


async def _head_or_tail(ctx: Context, argv: list[str], prog: str,
                        cut_bytes: Callable[[bytes, int, str], bytes],
                        cut_lines: Callable[[list[bytes], int, str], list[bytes]]) -> int:
    """head and tail share options, headers and inputs; they differ only in where they cut."""
    parsed = opts.parse(_legacy_count(argv), "n:c:qv", ("lines=", "bytes=", "quiet", "silent",
                                                       "verbose"))
    lines_spec = parsed.value("-n", "--lines")
    bytes_spec = parsed.value("-c", "--bytes")
    files = parsed.args or ["-"]
    headers = (len(files) > 1 or parsed.has("-v", "--verbose")) and not parsed.has("-q", "--quiet", "--silent")
    inputs = Inputs(ctx, prog)
    first = True
    async for name, data in inputs.each(files):
        if headers:
            ctx.out(("" if first else "\n") + f"==> {'standard input' if name == '-' else name} <==\n")
        first = False
        if bytes_spec is not None:
            ctx.out(cut_bytes(data, *_count(bytes_spec, prog)))
            continue
        ctx.out(b"".join(cut_lines(_chunks(data), *_count(lines_spec or "10", prog))))
    return 1 if inputs.failed else 0


@command("head")
async def head(ctx: Context, argv: list[str]) -> int:
    return await _head_or_tail(ctx, argv, "head", _head_bytes, _head_lines)


@command("tail")
async def tail(ctx: Context, argv: list[str]) -> int:
    return await _head_or_tail(ctx, argv, "tail", _tail_bytes, _tail_lines)


# --------------------------------------------------------------------------- wc


@command("wc")
async def wc(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "clwmL", ("bytes", "lines", "words", "chars", "max-line-length"))
    chosen = [key for key, names in (("l", ("-l", "--lines")), ("w", ("-w", "--words")),
                                     ("m", ("-m", "--chars")), ("c", ("-c", "--bytes")),
                                     ("L", ("-L", "--max-line-length"))) if parsed.has(*names)]
    chosen = chosen or ["l", "w", "c"]
    inputs = Inputs(ctx, "wc")
    rows: list[tuple[list[int], str]] = []
    regular_total = 0
    minimum_width = 1
    for name in parsed.args or ["-"]:
        if name == "-":
            minimum_width = 7
        elif fsutil.exists(ctx, name) and not fsutil.is_dir(ctx, name):
            regular_total += fsutil.stat(ctx, name).st_size
    async for name, data in inputs.each(parsed.args):
        text = decode(data)
        values = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data), "m": len(text),
                  "L": max((len(line) for line in text.split("\n")), default=0)}
        rows.append(([values[k] for k in chosen], "" if name == "-" and not parsed.args else name))
    if len(parsed.args) > 1:
        totals = [sum(r[0][i] for r in rows) for i in range(len(chosen))]
        if "L" in chosen:
            totals[chosen.index("L")] = max(r[0][chosen.index("L")] for r in rows)
        rows.append((totals, "total"))
    if len(chosen) == 1 and len(parsed.args) <= 1:
        width = 1  # a single number is printed without padding
    else:
        width = max(len(str(regular_total)), minimum_width)
    for values, name in rows:
        line = " ".join(f"{v:>{width}}" for v in values)
        ctx.out(line + (f" {name}" if name else "") + "\n")
    return 1 if inputs.failed else 0


# --------------------------------------------------------------------------- sort / uniq


def _version_key(text: str) -> list[tuple[int, int | str]]:
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


def _numeric(text: str) -> float:
    m = re.match(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)", text)
    return float(m.group(1)) if m else 0.0


_HUMAN = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def _human(text: str) -> float:
    m = re.match(r"\s*([-+]?\d*\.?\d+)([KMGTPE]?)", text)
    return float(m.group(1)) * _HUMAN[m.group(2)] if m else 0.0


_KEY_RE = re.compile(r"(\d+)(?:\.(\d+))?([bdfghiMnRrV]*)(?:,(\d+)(?:\.(\d+))?([bdfghiMnRrV]*))?")


def _field_spans(line: str, sep: str | None) -> list[tuple[int, int]]:
    """(start, end) of each field; without -t a field keeps its leading blanks, as in sort."""
    if sep is None:
        return [m.span() for m in re.finditer(r"[ \t]*[^ \t]+|[ \t]+$", line)]
    spans, pos = [], 0
    for piece in line.split(sep):
        spans.append((pos, pos + len(piece)))
        pos += len(piece) + len(sep)
    return spans


def _skip_blanks(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in " \t":
        pos += 1
    return pos


def _sort_value(text: str, flags: str) -> object:
    if "b" in flags or set(flags) & set("nghM"):
        text = text.lstrip(" \t")
    if "n" in flags or "g" in flags:
        return _numeric(text)
    if "h" in flags:
        return _human(text)
    if "V" in flags:
        return _version_key(text)
    if "M" in flags:
        months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
        word = text[:3].upper()
        return months.index(word) + 1 if word in months else 0
    if "d" in flags:
        text = "".join(c for c in text if c.isalnum() or c in " \t")
    if "i" in flags:
        text = "".join(c for c in text if c.isprintable())
    return text.lower() if "f" in flags else text


@command("sort")
async def sort(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "bdfginMrut:k:ho:VsmcCzS:T:",
                        ("ignore-leading-blanks", "dictionary-order", "ignore-case",
                         "general-numeric-sort", "ignore-nonprinting", "month-sort", "numeric-sort",
                         "reverse", "unique", "field-separator=", "key=", "human-numeric-sort",
                         "output=", "version-sort", "stable", "merge", "check", "zero-terminated",
                         "buffer-size=", "temporary-directory=", "parallel="))
    has = parsed.has
    sep = parsed.value("-t", "--field-separator")
    names = {"-b": "b", "-d": "d", "-f": "f", "-g": "g", "-i": "i", "-M": "M", "-n": "n", "-r": "r",
             "-h": "h", "-V": "V", "--ignore-leading-blanks": "b", "--dictionary-order": "d",
             "--ignore-case": "f", "--general-numeric-sort": "g", "--ignore-nonprinting": "i",
             "--month-sort": "M", "--numeric-sort": "n", "--reverse": "r",
             "--human-numeric-sort": "h", "--version-sort": "V"}
    global_flags = "".join(names[n] for n, _ in parsed.opts if n in names)
    keys = []
    for spec in parsed.values("-k", "--key"):
        m = _KEY_RE.fullmatch(spec)
        if not m or m.group(1) == "0":
            raise CommandError(f"sort: invalid number at field start: invalid count at start of '{spec}'", 2)
        own = (m.group(3) or "") + (m.group(6) or "")
        keys.append((int(m.group(1)), int(m.group(2) or 1), int(m.group(4)) if m.group(4) else None,
                     int(m.group(5) or 0), own or global_flags))
    inputs = Inputs(ctx, "sort")
    lines: list[str] = []
    async for _, data in inputs.each(parsed.args):
        lines.extend(split_lines(decode(data)))

    def extract(line: str, key: tuple[int, int, int | None, int, str]) -> str:
        sf, sc, ef, ec, flags = key
        spans = _field_spans(line, sep)
        start = spans[sf - 1][0] if sf - 1 < len(spans) else len(line)
        if "b" in flags:
            start = _skip_blanks(line, start)
        start = min(start + sc - 1, len(line))
        if ef is None or ef - 1 >= len(spans):
            end = len(line)
        elif ec == 0:
            end = spans[ef - 1][1]
        else:
            field_start = spans[ef - 1][0]
            if "b" in flags:
                field_start = _skip_blanks(line, field_start)
            end = min(field_start + ec, spans[ef - 1][1])
        return line[start:max(start, end)]

    sort_keys = keys or [(1, 1, None, 0, global_flags)]
    whole_line = not keys

    def compare_keys(a: str, b: str) -> int:
        for key in sort_keys:
            flags = key[4]
            ta, tb = (a, b) if whole_line else (extract(a, key), extract(b, key))
            va, vb = _sort_value(ta, flags), _sort_value(tb, flags)
            if va != vb:
                result = -1 if va < vb else 1  # type: ignore[operator]
                return -result if "r" in flags else result
        return 0

    def compare(a: str, b: str) -> int:
        result = compare_keys(a, b)
        if result or has("-s", "--stable", "-u", "--unique"):
            return result
        last = -1 if a < b else (1 if a > b else 0)  # last resort: the whole lines, bytewise
        return -last if "r" in global_flags else last

    if has("-c", "--check", "-C"):
        for k in range(1, len(lines)):
            bad = compare(lines[k - 1], lines[k]) > 0 or (
                has("-u", "--unique") and compare_keys(lines[k - 1], lines[k]) == 0)
            if bad:
                if not has("-C"):
                    ctx.err(f"sort: {parsed.args[0] if parsed.args else '-'}:{k + 1}: disorder: {lines[k]}\n")
                return 1
        return 0
    ordered = sorted(lines, key=functools.cmp_to_key(compare))
    if has("-u", "--unique"):
        unique: list[str] = []
        for line in ordered:
            if not unique or compare_keys(unique[-1], line) != 0:
                unique.append(line)
        ordered = unique
    text = encode("".join(line + "\n" for line in ordered))
    target = parsed.value("-o", "--output")
    if target is not None:
        fsutil.write_bytes(ctx, target, text, "sort")
    else:
        ctx.out(text)
    return 2 if inputs.failed else 0


@command("uniq")
async def uniq(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "cdDuif:s:w:", ("count", "repeated", "all-repeated", "unique",
                                              "ignore-case", "skip-fields=", "skip-chars=",
                                              "check-chars="))
    fold = parsed.has("-i", "--ignore-case")
    skip_fields = int(parsed.value("-f", "--skip-fields", default="0"))  # type: ignore[arg-type]
    skip_chars = int(parsed.value("-s", "--skip-chars", default="0"))  # type: ignore[arg-type]
    width = parsed.value("-w", "--check-chars")
    args = parsed.args
    source = args[0] if args else "-"
    inputs = Inputs(ctx, "uniq")
    data = await inputs.read(source)
    if data is None:
        return 1

    def key(line: str) -> str:
        text = line
        if skip_fields:
            text = "".join(re.findall(r"\s*\S+", text)[skip_fields:])
        text = text[skip_chars:]
        if width is not None:
            text = text[: int(width)]
        return text.lower() if fold else text

    groups: list[list[str]] = []
    for line in split_lines(decode(data)):
        if groups and key(groups[-1][0]) == key(line):
            groups[-1].append(line)
        else:
            groups.append([line])
    out = []
    for group in groups:
        if parsed.has("-d", "--repeated") and len(group) < 2:
            continue
        if parsed.has("-u", "--unique") and len(group) > 1:
            continue
        if parsed.has("-D", "--all-repeated"):
            if len(group) > 1:
                out.extend(line + "\n" for line in group)
            continue
        prefix = f"{len(group):7d} " if parsed.has("-c", "--count") else ""
        out.append(prefix + group[0] + "\n")
    text = encode("".join(out))
    if len(args) > 1:
        fsutil.write_bytes(ctx, args[1], text, "uniq")
    else:
        ctx.out(text)
    return 0


# --------------------------------------------------------------------------- tr

_TR_CLASSES = {
    "lower": "abcdefghijklmnopqrstuvwxyz", "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "digit": "0123456789", "space": " \t\n\r\f\v", "blank": " \t",
    "punct": "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()),
    "xdigit": "0123456789ABCDEFabcdef", "cntrl": "".join(chr(c) for c in [*range(32), 127]),
    "print": "".join(chr(c) for c in range(32, 127)), "graph": "".join(chr(c) for c in range(33, 127)),
}
_TR_CLASSES["alpha"] = _TR_CLASSES["upper"] + _TR_CLASSES["lower"]
_TR_CLASSES["alnum"] = _TR_CLASSES["digit"] + _TR_CLASSES["alpha"]
_TR_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _tr_set(spec: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(spec):
        m = re.compile(r"\[:(\w+):\]").match(spec, i)
        if m and m.group(1) in _TR_CLASSES:
            out.append(_TR_CLASSES[m.group(1)])
            i = m.end()
            continue
        m = re.compile(r"\[(.)\*(\d*)\]").match(spec, i)
        if m:
            out.append(m.group(1) * (int(m.group(2)) if m.group(2) else 0) or m.group(1) + "\0*")
            i = m.end()
            continue
        c = spec[i]
        if c == "\\" and i + 1 < len(spec):
            m = re.compile(r"\\([0-7]{1,3})").match(spec, i)
            if m:
                c = chr(int(m.group(1), 8))
                i = m.end()
            else:
                c = _TR_ESC.get(spec[i + 1], spec[i + 1])
                i += 2
        else:
            i += 1
        if i + 1 < len(spec) and spec[i] == "-":
            end = spec[i + 1]
            if end == "\\" and i + 2 < len(spec):
                end = _TR_ESC.get(spec[i + 2], spec[i + 2])
                i += 1
            out.append("".join(chr(x) for x in range(ord(c), ord(end) + 1)))
            i += 2
            continue
        out.append(c)
    return "".join(out)


@command("tr")
async def tr(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "cCdst", ("complement", "delete", "squeeze-repeats", "truncate-set1"))
    delete = parsed.has("-d", "--delete")
    squeeze = parsed.has("-s", "--squeeze-repeats")
    complement = parsed.has("-c", "-C", "--complement")
    sets = parsed.args
    need = 1 if delete and not squeeze or squeeze and len(sets) == 1 else 2
    if len(sets) < need:
        raise CommandError(f"tr: missing operand{' after ' + repr(sets[0]) if sets else ''}\n"
                           "Try 'tr --help' for more information.")
    set1 = _tr_set(sets[0])
    set2 = _tr_set(sets[1]) if len(sets) > 1 else ""
    text = decode(await ctx.read_stdin())

    def in_set1(ch: str) -> bool:
        return (ch in set1) != complement

    if delete:
        text = "".join(ch for ch in text if not in_set1(ch))
        squeeze_set = set2
    elif set2:
        if "\0*" in set2:
            fill = set2[set2.index("\0*") - 1]
            set2 = set2.replace(fill + "\0*", fill * max(len(set1) - len(set2) + 3, 0))
        if complement:
            last = set2[-1] if set2 else ""
            text = "".join(ch if ch in set1 else last for ch in text)
        else:
            padded = set2 + set2[-1:] * max(len(set1) - len(set2), 0)
            table = {}
            for a, b in zip(set1, padded, strict=False):
                table[ord(a)] = b
            text = text.translate(table)
        squeeze_set = set2
    else:
        squeeze_set = set1
    if squeeze:
        out: list[str] = []
        for ch in text:
            member = (ch in squeeze_set) if (set2 or delete) else in_set1(ch)
            if out and out[-1] == ch and member:
                continue
            out.append(ch)
        text = "".join(out)
    ctx.out(encode(text))
    return 0


# --------------------------------------------------------------------------- tee


@command("tee")
async def tee(ctx: Context, argv: list[str]) -> int:
    parsed = opts.parse(argv, "ai", ("append", "ignore-interrupts"))
    data = await ctx.read_stdin()
    failed = False
    for name in parsed.args:
        try:
            fsutil.write_bytes(ctx, name, data, "tee", append=parsed.has("-a", "--append"))
        except CommandError as exc:
            ctx.err(f"{exc}\n")
            failed = True
    ctx.out(data)
    return 1 if failed else 0


# --------------------------------------------------------------------------- checksums


def _digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


async def _checksum(ctx: Context, argv: list[str], algorithm: str) -> int:
    prog = posixpath.basename(argv[0])
    parsed = opts.parse(argv, "bctw", ("binary", "check", "text", "quiet", "status", "strict", "warn",
                                       "tag"))
    inputs = Inputs(ctx, prog)
    if parsed.has("-c", "--check"):
        return await _verify(ctx, prog, algorithm, parsed, inputs)
    star = "*" if parsed.has("-b", "--binary") else " "
    async for name, data in inputs.each(parsed.args):
        digest = await asyncio.to_thread(_digest, algorithm, data)
        if parsed.has("--tag"):
            ctx.out(f"{algorithm.upper()} ({name}) = {digest}\n")
        else:
            ctx.out(f"{digest} {star}{name}\n")
    return 1 if inputs.failed else 0


async def _verify(ctx: Context, prog: str, algorithm: str, parsed: opts.Parsed, inputs: Inputs) -> int:
    quiet = parsed.has("--quiet")
    status_only = parsed.has("--status")
    bad = missing = 0
    async for _, data in inputs.each(parsed.args):
        for line in split_lines(decode(data)):
            m = re.fullmatch(r"([0-9a-fA-F]+) [ *](.+)", line)
            if not m:
                continue
            expected, name = m.group(1).lower(), m.group(2)
            try:
                content = (await ctx.read_stdin() if name == "-"
                           else fsutil.read_bytes(ctx, name, prog))
            except CommandError as exc:
                missing += 1
                if not status_only:
                    ctx.err(f"{exc}\n")
                    ctx.out(f"{name}: FAILED open or read\n")
                continue
            ok = hashlib.new(algorithm, content).hexdigest() == expected
            bad += not ok
            if not status_only and not (ok and quiet):
                ctx.out(f"{name}: {'OK' if ok else 'FAILED'}\n")
    if not status_only:
        if bad:
            ctx.err(f"{prog}: WARNING: {bad} computed checksum{'s' if bad > 1 else ''} did NOT match\n")
        if missing:
            ctx.err(f"{prog}: WARNING: {missing} listed file{'s' if missing > 1 else ''} could not be read\n")
    return 1 if bad or missing or inputs.failed else 0


@command("md5sum")
async def md5sum(ctx: Context, argv: list[str]) -> int:
    return await _checksum(ctx, argv, "md5")


@command("sha256sum")
async def sha256sum(ctx: Context, argv: list[str]) -> int:
    return await _checksum(ctx, argv, "sha256")


@command("sha1sum")
async def sha1sum(ctx: Context, argv: list[str]) -> int:
    return await _checksum(ctx, argv, "sha1")

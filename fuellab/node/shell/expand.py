"""Word expansion as POSIX sh does it: parameters, command substitution, arithmetic,
field splitting of unquoted results, pathname expansion (globs) against the node's
filesystem, and quote removal.

An expanded field is kept as pieces `(text, quoted)` until globbing, because only
unquoted `*`, `?` and `[` are pattern characters.
"""

from __future__ import annotations

import ast
import operator
import posixpath
import re
from typing import TYPE_CHECKING

from fuellab.node.commands import fsutil
from fuellab.node.shell.ast import Arith, CmdSub, Lit, Param, Word

if TYPE_CHECKING:
    from fuellab.node.shell.interpreter import IO, Shell

Pieces = list[tuple[str, bool]]


class ExpansionError(Exception):
    """A fatal expansion error (`${x:?}`, unbound variable, bad arithmetic): the shell exits."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- entry points


async def expand_words(sh: Shell, words: list[Word], io: IO) -> list[str]:
    """Full expansion of command words: may yield more or fewer fields than words."""
    out: list[str] = []
    if sh.dialect == "bash":  # bash's brace expansion; dash has none
        words = [w for word in words for w in brace_expand(word)]
    for word in words:
        for pieces in await _fields(sh, word, io, split=True):
            if not sh.options["noglob"] and _has_magic(pieces):
                matches = glob(sh, pieces)
                if matches:
                    out.extend(matches)
                    continue
            out.append("".join(text for text, _ in pieces))
    return out


async def expand_string(sh: Shell, word: Word, io: IO) -> str:
    """Expansion without splitting or globbing (assignments, redirection targets, case)."""
    fields = await _fields(sh, word, io, split=False)
    return "".join(text for pieces in fields for text, _ in pieces)


async def expand_pattern(sh: Shell, word: Word, io: IO) -> re.Pattern[str]:
    """A `case` pattern or `${x#pattern}`: quoted characters match literally."""
    fields = await _fields(sh, word, io, split=False)
    pieces = [piece for f in fields for piece in f]
    return re.compile(pattern_regex(pieces), re.S)


# --------------------------------------------------------------------------- braces

Atom = tuple[str, object]  # ("c", char) for an unquoted character, ("p", part) otherwise


def brace_expand(word: Word) -> list[Word]:
    """`a{b,c}d` -> `abd acd`, `{1..3}` -> `1 2 3`; only unquoted braces count."""
    atoms: list[Atom] = []
    for part in word.parts:
        if isinstance(part, Lit) and not part.quoted:
            atoms.extend(("c", ch) for ch in part.text)
        else:
            atoms.append(("p", part))
    if not any(kind == "c" and value == "{" for kind, value in atoms):
        return [word]
    return [_rebuild(a) for a in _expand_atoms(atoms)]


def _expand_atoms(atoms: list[Atom]) -> list[list[Atom]]:
    for start, (kind, value) in enumerate(atoms):
        if kind != "c" or value != "{":
            continue
        depth, commas, end = 0, [], None
        for j in range(start + 1, len(atoms)):
            k, v = atoms[j]
            if k != "c":
                continue
            if v == "{":
                depth += 1
            elif v == "}":
                if depth == 0:
                    end = j
                    break
                depth -= 1
            elif v == "," and depth == 0:
                commas.append(j)
        if end is None:
            return [atoms]
        prefix, body, suffix = atoms[:start], atoms[start + 1 : end], atoms[end + 1 :]
        if commas:
            bounds = [start, *commas, end]
            alternatives = [atoms[a + 1 : b] for a, b in zip(bounds, bounds[1:], strict=False)]
        else:
            sequence = _sequence(body)
            if sequence is None:
                # not an expansion: keep the braces, look further right
                rest = _expand_atoms(suffix)
                return [atoms[: end + 1] + r for r in rest]
            alternatives = [[("c", ch) for ch in item] for item in sequence]
        results: list[list[Atom]] = []
        for alternative in alternatives:
            results.extend(_expand_atoms(prefix + alternative + suffix))
        return results
    return [atoms]


def _sequence(body: list[Atom]) -> list[str] | None:
    if any(kind != "c" for kind, _ in body):
        return None
    text = "".join(str(v) for _, v in body)
    m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?", text)
    if m:
        first, last = int(m.group(1)), int(m.group(2))
        step = abs(int(m.group(3) or 1)) or 1
        padded = any(re.fullmatch(r"-?0\d+", g) for g in (m.group(1), m.group(2)))
        width = max(len(m.group(1)), len(m.group(2))) if padded else 0
        values = range(first, last + (1 if last >= first else -1), step if last >= first else -step)
        return [str(v).zfill(width) if width else str(v) for v in values]
    m = re.fullmatch(r"([A-Za-z])\.\.([A-Za-z])", text)
    if m:
        a, b = ord(m.group(1)), ord(m.group(2))
        return [chr(c) for c in (range(a, b + 1) if b >= a else range(a, b - 1, -1))]
    return None


def _rebuild(atoms: list[Atom]) -> Word:
    parts: list = []
    buf: list[str] = []
    for kind, value in atoms:
        if kind == "c":
            buf.append(str(value))
            continue
        if buf:
            parts.append(Lit("".join(buf)))
            buf = []
        parts.append(value)
    if buf:
        parts.append(Lit("".join(buf)))
    return Word(parts)


# --------------------------------------------------------------------------- fields


async def _fields(sh: Shell, word: Word, io: IO, split: bool) -> list[Pieces]:
    fields: list[Pieces] = []
    cur: Pieces | None = None
    ifs = sh.vars.get("IFS", " \t\n")
    for part in word.parts:
        if isinstance(part, Lit):
            cur = cur if cur is not None else []
            cur.append((part.text, part.quoted))
            continue
        if isinstance(part, Param) and part.name == "@" and part.quoted and not part.op:
            # "$@": one field per positional parameter, the first and last joined to the word.
            params = sh.positional
            for k, value in enumerate(params):
                if k > 0:
                    fields.append(cur or [])
                    cur = None
                cur = cur if cur is not None else []
                cur.append((value, True))
            continue
        value = await _value(sh, part, io)
        if part.quoted or not split:
            cur = cur if cur is not None else []
            cur.append((value, part.quoted))
            continue
        for k, (chunk, sep_before, sep_after) in enumerate(_split(value, ifs)):
            if (k > 0 or sep_before) and cur is not None:
                fields.append(cur)
                cur = None
            if chunk or not sep_before:
                cur = cur if cur is not None else []
                if chunk:
                    cur.append((chunk, False))
            if sep_after and cur is not None:
                fields.append(cur)
                cur = None
    if cur is not None:
        fields.append(cur)
    if not split:
        return fields or [[]]
    # An unquoted expansion that vanished leaves no field; "" leaves an empty one.
    return [f for f in fields if f and (any(t for t, _ in f) or any(q for _, q in f))]


def _split(value: str, ifs: str) -> list[tuple[str, bool, bool]]:
    """Split on IFS: (chunk, separator before, separator after) for each chunk."""
    if not value:
        return []
    if not ifs:
        return [(value, False, False)]
    white = "".join(c for c in ifs if c in " \t\n")
    other = "".join(c for c in ifs if c not in " \t\n")
    w = f"[{re.escape(white)}]" if white else ""
    if other:
        pattern = f"{w}*[{re.escape(other)}]{w}*" if w else f"[{re.escape(other)}]"
        if w:
            pattern = f"{pattern}|{w}+"
    else:
        pattern = f"{w}+"
    pieces = re.split(f"(?:{pattern})", value)
    lead = bool(re.match(f"(?:{pattern})", value))
    trail = bool(re.search(f"(?:{pattern})$", value))
    if lead and pieces and pieces[0] == "":
        pieces = pieces[1:]
    if trail and pieces and pieces[-1] == "":
        pieces = pieces[:-1]
    result = []
    for k, chunk in enumerate(pieces):
        result.append((chunk, lead if k == 0 else True, trail and k == len(pieces) - 1))
    if not pieces and (lead or trail):
        result.append(("", True, True))
    return result


# --------------------------------------------------------------------------- values


async def _value(sh: Shell, part: Param | CmdSub | Arith, io: IO) -> str:
    if isinstance(part, CmdSub):
        return await sh.substitute(part.body, io)
    if isinstance(part, Arith):
        text = await expand_string(sh, part.expr, io)
        return str(arith(sh, text))
    return await _param(sh, part, io)


async def _param(sh: Shell, part: Param, io: IO) -> str:
    value = sh.get_param(part.name)
    op = part.op
    if op == "len":
        return str(len(value or ""))
    if op in ("", "#", "##", "%", "%%") and value is None and sh.options["nounset"] and part.name not in "@*":
        raise ExpansionError(f"{part.name}: unbound variable")
    if not op:
        return value or ""
    if op.startswith("/"):
        return await _replace(sh, part, value or "", io)
    if op == ":":
        return await _substring(sh, part, value or "", io)
    unset = value is None or (op.startswith(":") and value == "")
    base = op.lstrip(":")
    if base == "-":
        return await expand_string(sh, part.arg, io) if unset else value  # type: ignore[arg-type]
    if base == "=":
        if unset:
            value = await expand_string(sh, part.arg, io)  # type: ignore[arg-type]
            sh.set_var(part.name, value)
        return value  # type: ignore[return-value]
    if base == "+":
        return "" if unset else await expand_string(sh, part.arg, io)  # type: ignore[arg-type]
    if base == "?":
        if unset:
            message = await expand_string(sh, part.arg, io)  # type: ignore[arg-type]
            raise ExpansionError(f"{part.name}: {message or 'parameter null or not set'}")
        return value  # type: ignore[return-value]
    # Prefix / suffix removal.
    value = value or ""
    pattern = await expand_pattern(sh, part.arg, io)  # type: ignore[arg-type]
    return remove_affix(value, pattern, op)


async def _replace(sh: Shell, part: Param, value: str, io: IO) -> str:
    """${x/pat/rep}, ${x//pat/rep}, ${x/#pat/rep}, ${x/%pat/rep}: longest matches."""
    fields = await _fields(sh, part.arg, io, split=False)  # type: ignore[arg-type]
    body = pattern_regex([piece for f in fields for piece in f])
    if not body:
        return value
    replacement = await expand_string(sh, part.arg2, io) if part.arg2 else ""
    if part.op == "/#":
        regex = re.compile(f"^(?:{body})", re.S)
    elif part.op == "/%":
        regex = re.compile(f"(?:{body})$", re.S)
    else:
        regex = re.compile(body, re.S)
    return regex.sub(lambda m: replacement, value, count=0 if part.op == "//" else 1)


async def _substring(sh: Shell, part: Param, value: str, io: IO) -> str:
    offset = arith(sh, await expand_string(sh, part.arg, io))  # type: ignore[arg-type]
    if offset < 0:
        offset = max(len(value) + offset, 0)
    if part.arg2 is None:
        return value[offset:]
    length = arith(sh, await expand_string(sh, part.arg2, io))
    end = len(value) + length if length < 0 else offset + length
    return value[offset:end]


def remove_affix(value: str, pattern: re.Pattern[str], op: str) -> str:
    ends = range(len(value) + 1)
    if op in ("#", "##"):
        order = ends if op == "#" else reversed(ends)
        for end in order:
            if pattern.fullmatch(value[:end]):
                return value[end:]
        return value
    starts = reversed(ends) if op == "%" else ends
    for start in starts:
        if pattern.fullmatch(value[start:]):
            return value[:start]
    return value


# --------------------------------------------------------------------------- arithmetic

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_CMPS = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def arith(sh: Shell, text: str) -> int:
    """`$((...))` over integers with C semantics for / and %."""
    expr = text.strip() or "0"
    expr = re.sub(r"&&", " and ", expr)
    expr = re.sub(r"\|\|", " or ", expr)
    expr = re.sub(r"!(?!=)", " not ", expr)

    def var(m: re.Match[str]) -> str:
        if m.group(0) in ("and", "or", "not"):
            return m.group(0)
        raw = sh.get_param(m.group(0)) or "0"
        try:
            return str(int(raw, 0) if raw.strip().startswith("0x") else int(raw))
        except ValueError:
            return str(arith(sh, raw)) if raw != m.group(0) else "0"

    expr = re.sub(r"[A-Za-z_][A-Za-z0-9_]*", var, expr)
    expr = re.sub(r"\b0+(\d)", r"\1", expr)
    try:
        return int(_eval(ast.parse(expr, mode="eval").body))
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError) as exc:
        raise ExpansionError(f"{text}: syntax error in expression ({exc})") from None


def _eval(node: ast.AST) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Div | ast.FloorDiv):
            if right == 0:
                raise ZeroDivisionError("division by 0")
            quotient = abs(left) // abs(right)
            return quotient if (left >= 0) == (right >= 0) else -quotient
        if isinstance(node.op, ast.Mod):
            if right == 0:
                raise ZeroDivisionError("division by 0")
            return left - right * _eval(ast.BinOp(ast.Constant(left), ast.Div(), ast.Constant(right)))
        fn = _BINOPS.get(type(node.op))
        if fn is None:
            raise ValueError("unsupported operator")
        return fn(left, right)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Not):
            return int(not value)
        if isinstance(node.op, ast.Invert):
            return ~value
    if isinstance(node, ast.BoolOp):
        values = [_eval(v) for v in node.values]
        return int(all(values) if isinstance(node.op, ast.And) else any(values))
    if isinstance(node, ast.Compare):
        left = _eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator)
            if not _CMPS[type(op)](left, right):
                return 0
            left = right
        return 1
    raise ValueError("unsupported expression")


# --------------------------------------------------------------------------- patterns and globs


def _has_magic(pieces: Pieces) -> bool:
    return any(not quoted and any(c in text for c in "*?[") for text, quoted in pieces)


def pattern_regex(pieces: Pieces) -> str:
    """Translate shell pattern pieces to a regex; quoted text matches literally."""
    chars = [(c, quoted) for text, quoted in pieces for c in text]
    out: list[str] = []
    i = 0
    while i < len(chars):
        c, quoted = chars[i]
        if quoted:
            out.append(re.escape(c))
        elif c == "*":
            out.append(".*")
        elif c == "?":
            out.append(".")
        elif c == "\\" and i + 1 < len(chars):
            i += 1
            out.append(re.escape(chars[i][0]))
        elif c == "[":
            end = _bracket_end(chars, i)
            if end is None:
                out.append(re.escape(c))
            else:
                body = "".join(ch for ch, _ in chars[i + 1 : end])
                negate = body[:1] in ("!", "^")
                if negate:
                    body = body[1:]
                body = body.replace("\\", "\\\\").replace("[:alpha:]", "a-zA-Z").replace(
                    "[:digit:]", "0-9").replace("[:alnum:]", "a-zA-Z0-9").replace(
                    "[:space:]", " \\t\\n").replace("[:upper:]", "A-Z").replace("[:lower:]", "a-z")
                if body.startswith("]"):
                    body = "\\]" + body[1:]
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _bracket_end(chars: list[tuple[str, bool]], start: int) -> int | None:
    j = start + 1
    if j < len(chars) and chars[j][0] in "!^":
        j += 1
    if j < len(chars) and chars[j][0] == "]":
        j += 1
    while j < len(chars):
        if chars[j][0] == "[" and j + 1 < len(chars) and chars[j + 1][0] == ":":
            close = "".join(c for c, _ in chars[j:]).find(":]")
            if close > 0:
                j += close + 2
                continue
        if chars[j][0] == "]":
            return j
        j += 1
    return None


def glob(sh: Shell, pieces: Pieces) -> list[str]:
    """Pathname expansion against the node's filesystem; sorted; [] when nothing matches."""
    # Split the pieces into path segments on every '/'.
    segments: list[Pieces] = [[]]
    for text, quoted in pieces:
        for k, chunk in enumerate(text.split("/")):
            if k > 0:
                segments.append([])
            if chunk:
                segments[-1].append((chunk, quoted))
    absolute = not segments[0]
    if absolute:
        segments = segments[1:]
    ctx = sh.fs_context()
    candidates = ["/" if absolute else ""]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if not segment:  # trailing or doubled slash
            candidates = [c + "/" if not c.endswith("/") else c for c in candidates]
            candidates = [c for c in candidates if fsutil.is_dir(ctx, c or ".")]
            continue
        if not _has_magic(segment):
            name = "".join(t for t, _ in segment)
            candidates = [_join(c, name) for c in candidates]
            if not last:
                continue
            candidates = [c for c in candidates if fsutil.exists(ctx, c, follow=False)]
            continue
        regex = re.compile(pattern_regex(segment), re.S)
        dot_ok = segment[0][0].startswith(".")
        found = []
        for c in candidates:
            folder = c or "."
            if not fsutil.is_dir(ctx, folder):
                continue
            try:
                names = fsutil.listdir(ctx, folder)
            except OSError:
                continue
            for name in sorted(names):
                if name.startswith(".") and not dot_ok:
                    continue
                if regex.fullmatch(name):
                    path = _join(c, name)
                    if last or fsutil.is_dir(ctx, path):
                        found.append(path)
        candidates = found
        if not candidates:
            return []
    return sorted(candidates) if candidates != ["/"] else candidates


def _join(base: str, name: str) -> str:
    if not base:
        return name
    return base + name if base.endswith("/") else posixpath.join(base, name)

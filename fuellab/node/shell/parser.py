"""A recursive-descent parser for the POSIX sh that clients send over SSH.

It reads characters directly (no separate tokenizer) because quoting, `$(...)`
and heredocs change how the following characters are read. Covered: quotes,
backslashes, `$VAR`, `${VAR...}`, `$(...)`, backticks, `$((...))`, `$'...'`,
`~`, assignments, redirections (incl. heredocs and `2>&1`, `&>`), `|`, `|&`,
`&&`, `||`, `;`, `&`, `!`, `{ }`, `( )`, if, while, until, for, case and
function definitions.
"""

from __future__ import annotations

import re

from fuellab.node.shell.ast import (
    AndOr,
    Arith,
    Case,
    CmdSub,
    Command,
    For,
    FunctionDef,
    Group,
    If,
    ListNode,
    Lit,
    Loop,
    Param,
    Part,
    Pipeline,
    Redirect,
    Simple,
    Word,
)


class ShellSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\+?=")
METACHARS = set(" \t\n;&|()<>")
RESERVED_END = {"then", "else", "elif", "fi", "do", "done", "esac", "}", ";;"}
SPECIAL_PARAMS = set("?$#@*!-0")
RESERVED = {"if", "then", "elif", "else", "fi", "do", "done", "while", "until", "for", "in",
            "case", "esac", "{", "}", "!"}
_BARE_RE = re.compile(r"[^\s;&|()<>]+")
_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b",
                 "f": "\f", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


def parse(source: str) -> ListNode:
    """Parse a whole script; raises ShellSyntaxError."""
    parser = Parser(source)
    program = parser.parse_list()
    parser.skip_blanks()
    if not parser.at_end():
        raise parser.unexpected()
    if parser.pending_heredocs:
        parser.read_heredocs()
    return program


class Parser:
    def __init__(self, source: str) -> None:
        self.s = source
        self.i = 0
        self.pending_heredocs: list[tuple[Redirect, str, bool, bool]] = []

    # ------------------------------------------------------------------ low level

    def at_end(self) -> bool:
        return self.i >= len(self.s)

    def peek(self, n: int = 1) -> str:
        return self.s[self.i : self.i + n]

    @property
    def line(self) -> int:
        return self.s.count("\n", 0, self.i) + 1

    def error(self, message: str) -> ShellSyntaxError:
        return ShellSyntaxError(message, self.line)

    def unexpected(self) -> ShellSyntaxError:
        if self.at_end():
            return self.error("syntax error: unexpected end of file")
        token = self.peek_operator() or self.peek_reserved() or self.peek()
        if token == "\n":
            token = "newline"
        return self.error(f"syntax error near unexpected token `{token}'")

    def skip_blanks(self) -> None:
        """Spaces, tabs, line continuations and comments; never a newline."""
        while not self.at_end():
            c = self.s[self.i]
            if c in " \t":
                self.i += 1
            elif c == "\\" and self.peek(2) == "\\\n":
                self.i += 2
            elif c == "#":
                while not self.at_end() and self.s[self.i] != "\n":
                    self.i += 1
            else:
                break

    def newline(self) -> bool:
        """Consume one newline and the bodies of heredocs opened on its line."""
        if self.peek() != "\n":
            return False
        self.i += 1
        if self.pending_heredocs:
            self.read_heredocs()
        return True

    def skip_newlines(self) -> None:
        while True:
            self.skip_blanks()
            if not self.newline():
                return

    def peek_operator(self) -> str | None:
        for op in ("&&", "||", ";;", "|&", ";", "&", "|", "(", ")"):
            if self.s.startswith(op, self.i):
                return op
        return None

    def peek_reserved(self) -> str | None:
        """A reserved word at the current position (only meaningful where a command starts)."""
        m = _BARE_RE.match(self.s, self.i)
        return m.group(0) if m and m.group(0) in RESERVED else None

    def expect_reserved(self, word: str) -> None:
        self.skip_newlines()
        if self.peek_reserved() != word:
            raise self.unexpected()
        self.i += len(word)

    # ------------------------------------------------------------------ lists

    def parse_list(self) -> ListNode:
        items: list[tuple[AndOr, bool]] = []
        while True:
            self.skip_newlines()
            if self.at_end() or self.peek() == ")" or self.peek(2) == ";;":
                break
            if self.peek_reserved() in RESERVED_END:
                break
            andor = self.parse_and_or()
            self.skip_blanks()
            background = False
            if self.peek() == ";" and self.peek(2) != ";;":
                self.i += 1
            elif self.peek() == "&" and self.peek(2) != "&&":
                self.i += 1
                background = True
            elif self.peek() == "\n":
                self.newline()
            else:
                items.append((andor, False))
                break
            items.append((andor, background))
        return ListNode(items)

    def parse_and_or(self) -> AndOr:
        andor = AndOr(self.parse_pipeline())
        while True:
            self.skip_blanks()
            op = self.peek(2)
            if op not in ("&&", "||"):
                return andor
            self.i += 2
            self.skip_newlines()
            andor.rest.append((op, self.parse_pipeline()))

    def parse_pipeline(self) -> Pipeline:
        self.skip_blanks()
        negate = False
        if self.peek_reserved() == "!":
            self.i += 1
            negate = True
            self.skip_blanks()
        commands = [self.parse_command()]
        while True:
            self.skip_blanks()
            if self.peek() != "|" or self.peek(2) == "||":
                break
            if self.peek(2) == "|&":  # bash: `a |& b` pipes stderr too
                self.i += 2
                last = commands[-1]
                redirects = last.redirects if not isinstance(last, FunctionDef) else []
                redirects.append(Redirect(2, ">&", Word([Lit("1")])))
            else:
                self.i += 1
            self.skip_newlines()
            commands.append(self.parse_command())
        return Pipeline(commands, negate)

    # ------------------------------------------------------------------ commands

    def parse_command(self) -> Command:
        self.skip_blanks()
        word = self.peek_reserved()
        command: Command
        if word == "if":
            command = self.parse_if()
        elif word in ("while", "until"):
            self.i += len(word)
            cond = self.parse_list()
            self.expect_reserved("do")
            body = self.parse_list()
            self.expect_reserved("done")
            command = Loop(cond, body, until=word == "until")
        elif word == "for":
            command = self.parse_for()
        elif word == "case":
            command = self.parse_case()
        elif word == "{":
            self.i += 1
            body = self.parse_list()
            self.expect_reserved("}")
            command = Group(body)
        elif self.peek() == "(":
            self.i += 1
            body = self.parse_list()
            self.skip_newlines()
            if self.peek() != ")":
                raise self.unexpected()
            self.i += 1
            command = Group(body, subshell=True)
        elif word in RESERVED_END or word == "in" or self.at_end() or self.peek_operator():
            raise self.unexpected()
        else:
            return self.parse_simple()
        self.parse_trailing_redirects(command.redirects)  # type: ignore[union-attr]
        return command

    def parse_trailing_redirects(self, redirects: list[Redirect]) -> None:
        while True:
            self.skip_blanks()
            redirect = self.try_redirect()
            if redirect is None:
                return
            redirects.append(redirect)

    def parse_if(self) -> If:
        self.i += 2
        clauses = []
        cond = self.parse_list()
        self.expect_reserved("then")
        clauses.append((cond, self.parse_list()))
        orelse = None
        while True:
            self.skip_newlines()
            word = self.peek_reserved()
            if word == "elif":
                self.i += 4
                cond = self.parse_list()
                self.expect_reserved("then")
                clauses.append((cond, self.parse_list()))
            elif word == "else":
                self.i += 4
                orelse = self.parse_list()
                self.expect_reserved("fi")
                break
            elif word == "fi":
                self.i += 2
                break
            else:
                raise self.unexpected()
        return If(clauses, orelse)

    def parse_for(self) -> For:
        self.i += 3
        self.skip_blanks()
        m = NAME_RE.match(self.s, self.i)
        if not m:
            raise self.unexpected()
        self.i = m.end()
        self.skip_newlines()
        words: list[Word] | None = None
        if self.peek_reserved() == "in":
            self.i += 2
            words = []
            while True:
                self.skip_blanks()
                if self.at_end() or self.peek() in ";\n":
                    break
                words.append(self.read_word())
            if self.peek() == ";":
                self.i += 1
        elif self.peek() == ";":
            self.i += 1
        self.expect_reserved("do")
        body = self.parse_list()
        self.expect_reserved("done")
        return For(m.group(0), words, body)

    def parse_case(self) -> Case:
        self.i += 4
        self.skip_blanks()
        subject = self.read_word()
        self.expect_reserved("in")
        items: list[tuple[list[Word], ListNode]] = []
        while True:
            self.skip_newlines()
            if self.peek_reserved() == "esac":
                self.i += 4
                break
            if self.peek() == "(":
                self.i += 1
            patterns = []
            while True:
                self.skip_blanks()
                patterns.append(self.read_word())
                self.skip_blanks()
                if self.peek() == "|":
                    self.i += 1
                    continue
                if self.peek() != ")":
                    raise self.unexpected()
                self.i += 1
                break
            body = self.parse_list()
            self.skip_newlines()
            if self.peek(2) == ";;":
                self.i += 2
            items.append((patterns, body))
        return Case(subject, items)

    def parse_simple(self) -> Simple:
        command = Simple(line=self.line)
        while True:
            self.skip_blanks()
            if self.at_end():
                break
            c = self.peek()
            redirect = self.try_redirect()
            if redirect is not None:
                command.redirects.append(redirect)
                continue
            if c in METACHARS:
                if c == "(" and len(command.words) == 1 and not command.assigns:
                    return self.parse_function(command)
                break
            if not command.words:
                m = ASSIGN_RE.match(self.s, self.i)
                if m:
                    self.i = m.end()
                    if m.group(0).endswith("+="):
                        value = self.read_word(assignment=True)
                        value.parts.insert(0, Param(m.group(1), quoted=True))
                    else:
                        value = self.read_word(assignment=True)
                    command.assigns.append((m.group(1), value))
                    continue
            command.words.append(self.read_word())
        if not (command.words or command.assigns or command.redirects):
            raise self.unexpected()
        return command

    def parse_function(self, command: Simple) -> FunctionDef:
        name = command.words[0].literal()
        self.i += 1
        self.skip_blanks()
        if self.peek() != ")" or not name or not NAME_RE.fullmatch(name):
            raise self.unexpected()
        self.i += 1
        self.skip_newlines()
        return FunctionDef(name, self.parse_command())

    def try_redirect(self) -> Redirect | None:
        m = re.compile(r"(\d*)(&>>|&>|>>|>\||>&|<<<|<<-|<<|<&|<>|>|<)").match(self.s, self.i)
        if not m:
            return None
        number, op = m.group(1), m.group(2)
        if op.startswith("&") and number:
            return None
        self.i = m.end()
        self.skip_blanks()
        if self.at_end() or self.peek() in METACHARS:
            raise self.unexpected()
        if op.startswith("<") and op != "<>":
            fd = int(number) if number else 0
        else:
            fd = int(number) if number else (-1 if op.startswith("&") else 1)
        if op in ("<<", "<<-"):
            delimiter = self.read_word()
            text = "".join(p.text for p in delimiter.parts if isinstance(p, Lit))
            redirect = Redirect(fd, op, Word())
            self.pending_heredocs.append((redirect, text, delimiter.quoted, op == "<<-"))
            return redirect
        return Redirect(fd, op, self.read_word())

    def read_heredocs(self) -> None:
        pending, self.pending_heredocs = self.pending_heredocs, []
        for redirect, delimiter, quoted, strip_tabs in pending:
            lines = []
            while not self.at_end():
                end = self.s.find("\n", self.i)
                end = len(self.s) if end < 0 else end
                line = self.s[self.i : end]
                self.i = min(end + 1, len(self.s))
                if strip_tabs:
                    line = line.lstrip("\t")
                if line == delimiter:
                    break
                lines.append(line + "\n")
            body = "".join(lines)
            if quoted:
                redirect.target = Word([Lit(body, True)])
            else:
                redirect.target = Parser(body).read_heredoc_body()

    def read_heredoc_body(self) -> Word:
        parts: list[Part] = []
        buf: list[str] = []
        while not self.at_end():
            c = self.s[self.i]
            if c == "\\" and self.peek(2)[1:] in ("$", "`", "\\", "\n"):
                if self.s[self.i + 1] != "\n":
                    buf.append(self.s[self.i + 1])
                self.i += 2
            elif c == "$" or c == "`":
                _flush(parts, buf, True)
                parts.append(self.read_dollar(True) if c == "$" else self.read_backtick(True))
            else:
                buf.append(c)
                self.i += 1
        _flush(parts, buf, True)
        return Word(parts or [Lit("", True)])

    # ------------------------------------------------------------------ words

    def read_word(self, assignment: bool = False, until: str | None = None) -> Word:
        """One word. `until` holds the characters that close a `${name:-word}` word (blanks
        are literal there)."""
        parts: list[Part] = []
        buf: list[str] = []
        start = self.i
        while not self.at_end():
            c = self.s[self.i]
            if until is not None:
                if c in until:
                    break
            elif c in METACHARS:
                break
            if c == "\\":
                nxt = self.peek(2)[1:]
                if nxt == "\n":
                    self.i += 2
                    continue
                _flush(parts, buf, False)
                parts.append(Lit(nxt, True))
                self.i += 2
            elif c == "'":
                _flush(parts, buf, False)
                end = self.s.find("'", self.i + 1)
                if end < 0:
                    raise self.error("unexpected EOF while looking for matching `''")
                parts.append(Lit(self.s[self.i + 1 : end], True))
                self.i = end + 1
            elif c == '"':
                _flush(parts, buf, False)
                parts.extend(self.read_double_quoted())
            elif c == "$" and self.peek(2) == "$'":
                _flush(parts, buf, False)
                parts.append(self.read_ansi_c())
            elif c == "$":
                _flush(parts, buf, False)
                parts.append(self.read_dollar(False))
            elif c == "`":
                _flush(parts, buf, False)
                parts.append(self.read_backtick(False))
            elif c == "~" and (self.i == start or (assignment and self.s[self.i - 1] in ":=")):
                m = re.compile(r"~([A-Za-z0-9_.-]*)(?=[/:]|$|[\s;&|()<>])").match(self.s, self.i)
                if m and m.group(1) in ("", "root"):
                    _flush(parts, buf, False)
                    parts.append(Param("HOME", quoted=True))
                    self.i = m.end()
                else:
                    buf.append(c)
                    self.i += 1
            else:
                buf.append(c)
                self.i += 1
        _flush(parts, buf, False)
        return Word(parts)

    def read_double_quoted(self) -> list[Part]:
        self.i += 1
        parts: list[Part] = []
        buf: list[str] = []
        while True:
            if self.at_end():
                raise self.error('unexpected EOF while looking for matching `"\'')
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.peek(2)[1:] in ("$", "`", '"', "\\", "\n"):
                if self.s[self.i + 1] != "\n":
                    buf.append(self.s[self.i + 1])
                self.i += 2
            elif c == "$":
                _flush(parts, buf, True)
                parts.append(self.read_dollar(True))
            elif c == "`":
                _flush(parts, buf, True)
                parts.append(self.read_backtick(True))
            else:
                buf.append(c)
                self.i += 1
        _flush(parts, buf, True)
        return parts or [Lit("", True)]

    def read_ansi_c(self) -> Lit:
        self.i += 2
        out: list[str] = []
        while True:
            if self.at_end():
                raise self.error("unexpected EOF while looking for matching `''")
            c = self.s[self.i]
            if c == "'":
                self.i += 1
                return Lit("".join(out), True)
            if c == "\\":
                nxt = self.peek(2)[1:]
                if nxt in _ANSI_ESCAPES:
                    out.append(_ANSI_ESCAPES[nxt])
                    self.i += 2
                    continue
                m = re.compile(r"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3})").match(self.s, self.i)
                if m:
                    code = m.group(1)
                    out.append(chr(int(code[1:], 16) if code[0] == "x" else int(code, 8)))
                    self.i = m.end()
                    continue
            out.append(c)
            self.i += 1

    def read_dollar(self, quoted: bool) -> Part:
        s, i = self.s, self.i
        if s.startswith("$((", i):
            end = _matching_arith(s, i + 3)
            if end is not None:
                inner = Parser(s[i + 3 : end]).read_word(until="\0")
                self.i = end + 2
                return Arith(inner, quoted)
        if s.startswith("$(", i):
            self.i = i + 2
            body = self.parse_list()
            self.skip_newlines()
            if self.peek() != ")":
                raise self.error("unexpected EOF while looking for matching `)'")
            self.i += 1
            return CmdSub(body, quoted)
        if s.startswith("${", i):
            return self.read_braced(quoted)
        m = NAME_RE.match(s, i + 1)
        if m:
            self.i = m.end()
            return Param(m.group(0), quoted)
        nxt = s[i + 1 : i + 2]
        if nxt.isdigit() or (nxt and nxt in SPECIAL_PARAMS):
            self.i = i + 2
            return Param(nxt, quoted)
        self.i = i + 1
        return Lit("$", quoted)

    def read_braced(self, quoted: bool) -> Param:
        self.i += 2
        length = False
        if self.peek() == "#" and self.peek(2) != "#}" and self.peek(2) != "#":
            length = True
            self.i += 1
        m = NAME_RE.match(self.s, self.i) or re.compile(r"\d+|[?$#@*!\-0]").match(self.s, self.i)
        if not m:
            raise self.error("bad substitution")
        name = m.group(0)
        self.i = m.end()
        if length:
            if self.peek() != "}":
                raise self.error("bad substitution")
            self.i += 1
            return Param(name, quoted, "len")
        if self.peek() == "}":
            self.i += 1
            return Param(name, quoted)
        op_m = re.compile(r":-|:=|:\+|:\?|-|=|\+|\?|##|#|%%|%|//|/#|/%|/|:").match(self.s, self.i)
        if not op_m:
            raise self.error("bad substitution")
        self.i = op_m.end()
        op = op_m.group(0)
        arg2 = None
        if op.startswith("/") or op == ":":
            # ${x/pattern/replacement} and bash's ${x:offset:length}
            arg = self.read_word(until="/}" if op != ":" else ":}")
            if self.peek() in ("/", ":"):
                self.i += 1
                arg2 = self.read_word(until="}")
        else:
            arg = self.read_word(until="}")
        for word in (arg, arg2):
            if quoted and word is not None:
                for part in word.parts:
                    part.quoted = True
        if self.peek() != "}":
            raise self.error("unexpected EOF while looking for matching `}'")
        self.i += 1
        return Param(name, quoted, op, arg, arg2)

    def read_backtick(self, quoted: bool) -> CmdSub:
        out: list[str] = []
        j = self.i + 1
        while True:
            if j >= len(self.s):
                raise self.error("unexpected EOF while looking for matching ``'")
            c = self.s[j]
            if c == "`":
                break
            if c == "\\" and self.s[j + 1 : j + 2] in ("`", "\\", "$"):
                out.append(self.s[j + 1])
                j += 2
                continue
            out.append(c)
            j += 1
        self.i = j + 1
        inner = Parser("".join(out))
        body = inner.parse_list()
        inner.skip_newlines()
        if not inner.at_end():
            raise inner.unexpected()
        return CmdSub(body, quoted)


def _flush(parts: list[Part], buf: list[str], quoted: bool) -> None:
    if buf:
        parts.append(Lit("".join(buf), quoted))
        buf.clear()


def _matching_arith(s: str, start: int) -> int | None:
    """Index of the `))` closing a `$((` whose body starts at `start`."""
    depth = 0
    j = start
    while j < len(s):
        c = s[j]
        if c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                return j if s.startswith("))", j) else None
            depth -= 1
        j += 1
    return None

"""The syntax tree the parser builds and the interpreter walks.

A word keeps its quoting: each part says whether it was quoted, because field
splitting and globbing apply only to unquoted text, as in POSIX sh.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Lit:
    text: str
    quoted: bool = False


@dataclass
class Param:
    """`$name`, `${name}`, `${name:-word}`, `${#name}`, `${name%pat}` ..."""

    name: str
    quoted: bool = False
    op: str = ""  # "", "-", ":-", "=", ":=", "+", ":+", "?", ":?", "#", "##", "%", "%%", "len",
    #               "/", "//", "/#", "/%" (replace), ":" (substring)
    arg: Word | None = None
    arg2: Word | None = None  # the replacement, or the substring's length


@dataclass
class CmdSub:
    body: ListNode
    quoted: bool = False


@dataclass
class Arith:
    expr: Word
    quoted: bool = False


Part = Lit | Param | CmdSub | Arith


@dataclass
class Word:
    parts: list[Part] = field(default_factory=list)

    def literal(self) -> str | None:
        """The text when the word holds no expansion (reserved words, heredoc delimiters)."""
        if all(isinstance(p, Lit) for p in self.parts):
            return "".join(p.text for p in self.parts)  # type: ignore[union-attr]
        return None

    @property
    def quoted(self) -> bool:
        return any(getattr(p, "quoted", False) for p in self.parts)


@dataclass
class Redirect:
    fd: int  # the descriptor redirected (1 for `>`, 0 for `<`, -1 for `&>`)
    op: str  # > >> < >| <> >& <& &> &>> << <<- <<<
    target: Word


@dataclass
class Simple:
    assigns: list[tuple[str, Word]] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    line: int = 1


@dataclass
class Pipeline:
    commands: list[Command]
    negate: bool = False


@dataclass
class AndOr:
    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


@dataclass
class ListNode:
    items: list[tuple[AndOr, bool]] = field(default_factory=list)  # (and-or list, background)


@dataclass
class Group:
    body: ListNode
    subshell: bool = False
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class If:
    clauses: list[tuple[ListNode, ListNode]]
    orelse: ListNode | None = None
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Loop:
    cond: ListNode
    body: ListNode
    until: bool = False
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class For:
    var: str
    words: list[Word] | None  # None: "$@"
    body: ListNode
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class Case:
    word: Word
    items: list[tuple[list[Word], ListNode]]
    redirects: list[Redirect] = field(default_factory=list)


@dataclass
class FunctionDef:
    name: str
    body: Command


Command = Simple | Group | If | Loop | For | Case | FunctionDef

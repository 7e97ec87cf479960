"""GNU-style option parsing for the lab's commands: combined short flags, option
arguments (`-n5`, `-n 5`), long options (`--format=X`, `--format X`), `--` ending
options, and options after operands (GNU getopt permutes them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fuellab.node.context import CommandError


@dataclass
class Parsed:
    opts: list[tuple[str, str | None]] = field(default_factory=list)  # ("-n", "5"), ("--all", None)
    args: list[str] = field(default_factory=list)

    def has(self, *names: str) -> bool:
        return any(name in names for name, _ in self.opts)

    def value(self, *names: str, default: str | None = None) -> str | None:
        found = default
        for name, value in self.opts:
            if name in names:
                found = value
        return found

    def values(self, *names: str) -> list[str]:
        return [v for n, v in self.opts if n in names and v is not None]


def parse(argv: list[str], short: str = "", long: tuple[str, ...] = (), status: int = 1,
          permute: bool = True) -> Parsed:
    """`short` is getopt's spec ("nf:" : -n flag, -f takes a value); `long` names end
    with "=" when they take a value. Raises CommandError worded as GNU tools word it."""
    prog = argv[0].rsplit("/", 1)[-1]
    takes = {c: short[i + 1 : i + 2] == ":" for i, c in enumerate(short) if c != ":"}
    long_names = {name.rstrip("="): name.endswith("=") for name in long}
    parsed = Parsed()
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            parsed.args.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            matches = [n for n in long_names if n == name] or [n for n in long_names if n.startswith(name)]
            if len(matches) != 1:
                what = "unrecognized" if not matches else "ambiguous"
                raise CommandError(f"{prog}: {what} option '{arg}'\n"
                                   f"Try '{prog} --help' for more information.", status)
            name = matches[0]
            if long_names[name]:
                if not eq:
                    if i >= len(args):
                        raise CommandError(f"{prog}: option '--{name}' requires an argument\n"
                                           f"Try '{prog} --help' for more information.", status)
                    value = args[i]
                    i += 1
                parsed.opts.append((f"--{name}", value))
            else:
                parsed.opts.append((f"--{name}", None))
            continue
        if arg.startswith("-") and arg != "-":
            j = 1
            while j < len(arg):
                c = arg[j]
                if c not in takes:
                    raise CommandError(f"{prog}: invalid option -- '{c}'\n"
                                       f"Try '{prog} --help' for more information.", status)
                if takes[c]:
                    value = arg[j + 1 :]
                    if not value:
                        if i >= len(args):
                            raise CommandError(f"{prog}: option requires an argument -- '{c}'\n"
                                               f"Try '{prog} --help' for more information.", status)
                        value = args[i]
                        i += 1
                    parsed.opts.append((f"-{c}", value))
                    break
                parsed.opts.append((f"-{c}", None))
                j += 1
            continue
        parsed.args.append(arg)
        if not permute:
            parsed.args.extend(args[i:])
            break
    return parsed

"""`sh`, `bash` and `dash` as binaries: `sh -c '...'`, `bash -o pipefail -c`, a script
file, or a script read from stdin, each run by a new lab shell."""

from __future__ import annotations

import posixpath

from fuellab.node.commands import command, fsutil
from fuellab.node.context import CommandError, Context

_FLAGS = {"e": "errexit", "u": "nounset", "x": "xtrace", "f": "noglob", "C": "noclobber"}


@command("sh", "bash", "dash")
async def shell(ctx: Context, argv: list[str]) -> int:
    from fuellab.node.shell.interpreter import run_in_context

    prog = posixpath.basename(argv[0])
    name = "sh" if prog in ("sh", "dash") else "bash"
    options: dict[str, bool] = {}
    args = argv[1:]
    script: str | None = None
    from_command = False
    while args and args[0][:1] in ("-", "+") and args[0] not in ("-", "+"):
        arg = args.pop(0)
        if arg == "--":
            break
        if arg.startswith("--"):
            continue  # --login, --norc, --noprofile: no startup files in the lab
        enable = arg[0] == "-"
        for flag in arg[1:]:
            if flag == "c":
                from_command = True
            elif flag == "o":
                if not args:
                    raise CommandError(f"{name}: -o: option requires an argument", 2)
                option = args.pop(0)
                options[option] = enable
            elif flag in _FLAGS:
                options[_FLAGS[flag]] = enable
            elif flag in "lsivhBE":
                continue  # login / stdin / interactive flags: no effect without a terminal
            else:
                raise CommandError(f"{name}: -{flag}: invalid option", 2)
    if from_command:
        if not args:
            raise CommandError(f"{name}: -c: option requires an argument", 2)
        script = args.pop(0)
        positional = args or [name]
    elif args:
        path = args[0]
        try:
            script = fsutil.read_bytes(ctx, path, name).decode(errors="replace")
        except CommandError:
            raise CommandError(f"{name}: {path}: No such file or directory", 127) from None
        positional = args
    else:
        script = (await ctx.read_stdin()).decode(errors="replace")
        ctx.stdin, ctx.stdin_source = b"", None
        positional = [name]
    return await run_in_context(ctx, script, positional, name=name, options=options)

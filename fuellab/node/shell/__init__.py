"""The node shell: parses a command line as /bin/sh would and runs it over the node's state.

`execute(lab, node, script, stdin_source=..., env=...)` returns a `Result`.
"""

from __future__ import annotations

from fuellab.node.shell.interpreter import Result, execute

__all__ = ["Result", "execute"]

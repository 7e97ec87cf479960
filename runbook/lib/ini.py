"""INI files of OpenStack services (nova.conf, neutron.conf): read their options, set some, keep the rest.

`set_options` edits the text line by line, so comments, order and every other
option stay as they were: an option present in its section is replaced where it
is, a missing one is added at the end of its section, a missing section at the
end of the file. `options` reads them back as the services' parser sees plain
values (no interpolation; `[DEFAULT]` is a section like the others).

Callers write the result with `SSHPool.edit` (SFTP): values such as passwords
never appear in a command line.
"""

from __future__ import annotations

import configparser
import re

_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_OPTION = re.compile(r"^\s*([^#;=\s][^=]*?)\s*=")


def options(text: str) -> dict[str, dict[str, str]]:
    """{section: {option: value}} of an INI text (options in their own case)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, default_section="__none__")
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {section: dict(parser[section]) for section in parser.sections()}


def _section_spans(lines: list[str]) -> dict[str, tuple[int, int]]:
    """{section: (index of its header, index after its last line)}; the first of a repeated one."""
    spans: dict[str, tuple[int, int]] = {}
    current, start = None, 0
    for i, line in enumerate(lines):
        found = _SECTION.match(line)
        if found:
            if current is not None and current not in spans:
                spans[current] = (start, i)
            current, start = found.group(1).strip(), i
    if current is not None and current not in spans:
        spans[current] = (start, len(lines))
    return spans


def _set_one(lines: list[str], section: str, key: str, value: str) -> list[str]:
    entry = f"{key} = {value}\n"
    spans = _section_spans(lines)
    if section not in spans:
        if lines and lines[-1].strip():
            lines.append("\n")
        return [*lines, f"[{section}]\n", entry]
    first, end = spans[section]
    for i in range(first + 1, end):
        found = _OPTION.match(lines[i])
        if found and found.group(1).strip() == key:
            lines[i] = entry
            return lines
    last = end
    while last > first + 1 and not lines[last - 1].strip():
        last -= 1
    return [*lines[:last], entry, *lines[last:]]


def set_options(text: str, values: dict[str, dict[str, str]]) -> str:
    """The text with each `values[section][option]` set; everything else as it was."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    for section, settings in values.items():
        for key, value in settings.items():
            lines = _set_one(lines, section, key, str(value))
    return "".join(lines)


def remove_options(text: str, names: dict[str, list[str]]) -> str:
    """The text without the options `names[section]`; a section left with no line but blank ones goes
    too (its header would only say that something was once there). Everything else as it was."""
    lines = text.splitlines(keepends=True)
    removed = False
    for section, keys in names.items():
        span = _section_spans(lines).get(section)
        if span is None:
            continue
        first, end = span
        kept = [line for line in lines[first + 1:end]
                if not ((found := _OPTION.match(line)) and found.group(1).strip() in keys)]
        if len(kept) == end - first - 1:
            continue
        removed = True
        body = [lines[first], *kept] if any(line.strip() for line in kept) else []
        lines = [*lines[:first], *body, *lines[end:]]
    if not removed:
        return text
    while lines and not lines[-1].strip():  # the blank lines a removed last section leaves
        lines.pop()
    return "".join(lines) + ("\n" if lines and not lines[-1].endswith("\n") else "")

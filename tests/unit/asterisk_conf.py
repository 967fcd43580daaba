"""Asterisk's configuration file syntax, read the way main/config.c reads it.

What the shipped files use: ``[section]``, templates ``[name](!)`` and ``[name](tmpl,…)``
(a section inherits its templates' entries first), several sections of one name (pjsip.conf's
``[101]`` endpoint/auth/aor), ``key = value`` and ``key => value``, ``;`` comments (``\\;`` is a
literal semicolon), ``;-- … --;`` block comments, ``#include "file"`` (relative names are read
from the same folder; absolute ones are files the container writes at start, kept as names),
and in extensions.conf ``exten =>``/``same =>`` with priorities ``n`` and labels ``n(label)``.
Anything else is a parse error naming the file and line, so a typo fails a test instead of
being skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SECTION = re.compile(r"^\[(?P<name>[^\]]+)\](?:\((?P<opts>[^)]*)\))?$")
ENTRY = re.compile(r"^(?P<key>[^=]+?)\s*=>?\s*(?P<value>.*)$")
INCLUDE = re.compile(r'^#include\s+"?(?P<file>[^"]+?)"?$')


class ConfError(ValueError):
    """A line Asterisk would not read (or would read differently)."""


@dataclass
class Entry:
    key: str
    value: str
    file: str
    line: int


@dataclass
class Section:
    name: str
    file: str
    line: int
    template: bool = False
    bases: tuple[str, ...] = ()
    own: list[Entry] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)  # bases' entries first, then own

    def values(self, key: str) -> list[str]:
        return [e.value for e in self.entries if e.key == key]

    def get(self, key: str, default: str | None = None) -> str | None:
        found = self.values(key)
        return found[-1] if found else default


@dataclass
class Conf:
    path: Path
    sections: list[Section]

    def named(self, name: str) -> list[Section]:
        return [s for s in self.sections if s.name == name and not s.template]

    def one(self, name: str) -> Section:
        found = self.named(name)
        if len(found) != 1:
            raise KeyError(f"{self.path.name}: {len(found)} sections [{name}]")
        return found[0]

    def of_type(self, kind: str) -> list[Section]:
        """pjsip.conf style: the (non-template) sections with ``type = kind``."""
        return [s for s in self.sections if not s.template and s.get("type") == kind]


def strip_comment(line: str) -> str:
    out = []
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if ch == ";":
            break
        out.append(ch)
        i += 1
    return "".join(out).strip()


def _lines(path: Path) -> list[tuple[str, int, str]]:
    """(file name, line number, text without comments) with #include of relative files
    expanded and block comments removed; absolute includes stay as ``#include`` lines."""
    out: list[tuple[str, int, str]] = []
    in_block = False
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        text = raw
        if in_block:
            if "--;" not in text:
                continue
            text = text.split("--;", 1)[1]
            in_block = False
        if ";--" in text:
            before, after = text.split(";--", 1)
            if "--;" not in after:
                in_block = True
            text = before + (after.split("--;", 1)[1] if "--;" in after else "")
        line = strip_comment(text)
        if not line:
            continue
        m = INCLUDE.match(line)
        if m and not m["file"].startswith("/"):
            target = path.parent / m["file"]
            if not target.exists():
                raise ConfError(f"{path.name}:{number}: #include of a missing file {m['file']}")
            out.extend(_lines(target))
            continue
        out.append((path.name, number, line))
    return out


def parse(path: Path) -> Conf:
    sections: list[Section] = []
    current: Section | None = None
    for file, number, line in _lines(path):
        where = f"{file}:{number}"
        if line.startswith("#"):
            m = INCLUDE.match(line)
            if not m:
                raise ConfError(f"{where}: unknown directive {line!r}")
            if current is None:
                raise ConfError(f"{where}: #include outside a section")
            current.includes.append(m["file"])
            continue
        m = SECTION.match(line)
        if m:
            opts = [o.strip() for o in (m["opts"] or "").split(",") if o.strip()]
            current = Section(
                m["name"].strip(),
                file,
                number,
                template="!" in opts,
                bases=tuple(o for o in opts if o != "!"),
            )
            sections.append(current)
            continue
        m = ENTRY.match(line)
        if not m or current is None:
            raise ConfError(f"{where}: unparsable line {line!r}")
        current.own.append(Entry(m["key"].strip(), m["value"].strip(), file, number))
    for section in sections:
        section.entries = [*_inherited(sections, section, path), *section.own]
    return Conf(path, sections)


def _inherited(sections: list[Section], section: Section, path: Path) -> list[Entry]:
    entries: list[Entry] = []
    for base in section.bases:
        found = [s for s in sections if s.name == base and s.line < section.line]
        if not found:
            raise ConfError(f"{path.name}:{section.line}: template {base!r} not defined above")
        entries.extend(_inherited(sections, found[-1], path))
        entries.extend(found[-1].own)
    return entries


@dataclass(frozen=True)
class Step:
    context: str
    exten: str
    priority: str
    label: str
    app: str
    args: str
    file: str
    line: int


STEP = re.compile(
    r"^(?P<prio>\d+|n|hint)(?:\((?P<label>[\w-]+)\))?,(?P<app>\w+)(?:\((?P<args>.*)\))?$"
)


def dialplan(path: Path) -> list[Step]:
    """Every priority of extensions.conf, ``same =>`` resolved to its extension."""
    steps: list[Step] = []
    for section in parse(path).sections:
        if section.name in ("general", "globals"):
            continue
        exten = ""
        for entry in section.own:
            if entry.key == "exten":
                exten, _, rest = entry.value.partition(",")
            elif entry.key == "same":
                if not exten:
                    raise ConfError(f"{entry.file}:{entry.line}: same => before any exten")
                rest = entry.value
            else:
                continue
            m = STEP.match(rest.strip())
            if not m:
                raise ConfError(f"{entry.file}:{entry.line}: unparsable priority {rest!r}")
            steps.append(
                Step(
                    section.name,
                    exten.strip(),
                    m["prio"],
                    m["label"] or "",
                    m["app"],
                    m["args"] or "",
                    entry.file,
                    entry.line,
                )
            )
    return steps


# --- manager.conf event filters (main/manager.c manager_add_filter / should_send_event) -------

METHODS = ("regex", "exact", "starts_with", "ends_with", "contains", "none")


@dataclass(frozen=True)
class EventFilter:
    exclude: bool
    name: str  # "" = any event
    header: str  # "" = the whole event text; else "Header:"
    method: str
    pattern: str

    def matches(self, event_name: str, text: str) -> bool:
        if self.name and self.name != event_name:
            return False
        if not self.header:
            return self._match(text)
        for line in text.split("\n"):
            line = line.removesuffix("\r")
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip()
                if value and self._match(value):
                    return True
        return False

    def _match(self, data: str) -> bool:
        if self.method == "regex":
            return re.search(self.pattern, data) is not None
        if self.method == "exact":
            return data == self.pattern
        if self.method == "starts_with":
            return data.startswith(self.pattern)
        if self.method == "ends_with":
            return data.endswith(self.pattern)
        if self.method == "contains":
            return self.pattern in data
        return True  # none


def event_filter(criteria: str, pattern: str) -> EventFilter:
    """One ``eventfilter… = pattern`` line as Asterisk 22 reads it; ConfError where Asterisk
    logs a warning and drops the filter (manager_add_filter's FILTER_FORMAT_ERROR)."""
    exclude = False
    if pattern.startswith("!"):
        exclude, pattern = True, pattern[1:]
    if "(" not in criteria:
        if criteria != "eventfilter" or not pattern:
            raise ConfError(f"{criteria} = {pattern}: legacy filter needs a pattern")
        re.compile(pattern)
        return EventFilter(exclude, "", "", "regex", pattern)
    options = criteria[criteria.index("(") + 1 :].strip()
    if not options.endswith(")"):
        raise ConfError(f"{criteria}: options not formatted correctly")
    name = header = ""
    method = "none"
    found: set[str] = set()
    for option in (o for o in re.split(r"[ ,)]+", options) if o):
        key, _, arg = option.partition("(")
        arg = arg.strip()
        if key not in ("action", "name", "header", "method") or not arg:
            raise ConfError(f"{criteria}: option {option!r} unknown or empty")
        found.add(key)
        if key == "action":
            if arg not in ("include", "exclude"):
                raise ConfError(f"{criteria}: action {arg!r} unknown")
            exclude = arg == "exclude"
        elif key == "name":
            name = arg
        elif key == "header":
            header = arg if arg.endswith(":") else arg + ":"
        else:
            if arg not in METHODS:
                raise ConfError(f"{criteria}: method {arg!r} unknown")
            method = arg
    if not found:
        raise ConfError(f"{criteria}: no action, name, header or method")
    if not pattern and method != "none":
        raise ConfError(f"{criteria}: method {method} with no pattern")
    if pattern and method == "none":
        raise ConfError(f"{criteria} = {pattern}: method none with a pattern")
    if not name and not header and method == "none":
        raise ConfError(f"{criteria}: no name or header and no pattern")
    if method == "regex":
        re.compile(pattern)
    return EventFilter(exclude, name, header, method, pattern)


def should_send(filters: list[EventFilter], event_name: str, text: str) -> bool:
    """main/manager.c should_send_event: no filters pass all; include filters only: an event
    must match one; exclude filters only: it must match none; both: include, then exclude."""
    includes = [f for f in filters if not f.exclude]
    excludes = [f for f in filters if f.exclude]
    if includes and not any(f.matches(event_name, text) for f in includes):
        return False
    return not any(f.matches(event_name, text) for f in excludes)

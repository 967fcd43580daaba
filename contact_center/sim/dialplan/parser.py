"""extensions.conf → contexts, extensions and steps (pbx_config's reading, the subset we use).

Understood: ``[context]`` (repeated contexts are merged), ``[general]`` (static,
writeprotect, clearglobalvars, autofallthrough=yes, extenpatternmatchnew=no), ``[globals]``,
``exten => pattern,prio,App(args)``, ``same => prio,...``, priorities as numbers, ``n`` and
``n(label)``/``1(label)``, ``;`` comments (``\\;`` is a literal semicolon), ``#include`` relative to
the including file. Anything else — and any application or function the simulator cannot
run — is a :class:`DialplanError` naming the file and line, raised while loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from contact_center.sim.dialplan import patterns
from contact_center.sim.dialplan.subst import FUNCTIONS, functions_used
from contact_center.sim.errors import SimError

# Application name (as written, any case) → the name Asterisk reports in Newexten.
APPLICATIONS = {
    name.lower(): name
    for name in (
        "Answer", "Playback", "BackGround", "WaitExten", "Read", "AGI", "Queue", "Dial",
        "MixMonitor", "ConfBridge", "ChanSpy", "VoiceMail", "Hangup", "Wait", "NoOp",
        "Ringing", "SendDTMF", "Return", "Goto", "GotoIf", "ExecIf", "Gosub", "Set",
        "AMD",  # answering-machine detection (sim/callees.py)
    )
}  # fmt: skip
GENERAL_SETTINGS = {
    "static": None,
    "writeprotect": None,
    "clearglobalvars": None,
    "autofallthrough": "yes",
    "extenpatternmatchnew": "no",
}
_PRIORITY = re.compile(r"^(\d+|n)(?:\(([A-Za-z0-9_-]+)\))?$")
_APP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


class DialplanError(SimError):
    """A dial plan the simulator cannot run; the message starts with ``file:line:``."""


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Step:
    """One priority: the application (Newexten's spelling) and its raw arguments."""

    app: str
    args: str
    where: Where


@dataclass
class Extension:
    name: str  # "s", "4951110001", "_1XX"
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class Context:
    name: str
    extensions: list[Extension] = field(default_factory=list)  # in ext_cmp order

    def get(self, name: str) -> Extension | None:
        return next((e for e in self.extensions if e.name == name), None)

    def find(self, exten: str) -> Extension | None:
        """The extension a call to ``exten`` runs: the first match in Asterisk's order."""
        return next((e for e in self.extensions if patterns.matches(e.name, exten)), None)

    def can_match_more(self, prefix: str) -> bool:
        return any(patterns.can_match_more(e.name, prefix) for e in self.extensions)


@dataclass
class DialplanConfig:
    contexts: dict[str, Context] = field(default_factory=dict)
    globals: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def load(*paths: Path | str) -> DialplanConfig:
    """Read one or more extensions.conf files (later files add to earlier ones)."""
    config = DialplanConfig()
    reader = _Reader(config)
    for path in paths:
        reader.read_file(Path(path), chain=())
    for context in config.contexts.values():
        context.extensions.sort(key=lambda e: patterns.sort_key(e.name))
    return config


def parse_text(text: str, name: str = "extensions.conf") -> DialplanConfig:
    """Parse dial plan text (no ``#include``); for tests and checks."""
    config = DialplanConfig()
    _Reader(config).read_lines(text.splitlines(), Path(name), chain=())
    for context in config.contexts.values():
        context.extensions.sort(key=lambda e: patterns.sort_key(e.name))
    return config


class _Reader:
    def __init__(self, config: DialplanConfig) -> None:
        self.config = config
        self.section = ""
        self.last: Extension | None = None
        self.last_priority = 0

    def read_file(self, path: Path, chain: tuple[Path, ...]) -> None:
        resolved = path.resolve()
        if resolved in chain:
            raise DialplanError(f"{path}: #include loop")
        self.config.files.append(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DialplanError(f"{path}: cannot read: {exc.strerror}") from exc
        self.read_lines(lines, path, (*chain, resolved))

    def read_lines(self, lines: Iterable[str], path: Path, chain: tuple[Path, ...]) -> None:
        for number, raw in enumerate(lines, 1):
            where = Where(str(path), number)
            line = _strip_comment(raw).strip()
            if not line:
                continue
            if line.startswith("#"):
                self.directive(line, where, path, chain)
            elif line.startswith("["):
                self.start_section(line, where)
            else:
                self.entry(line, where)

    def directive(self, line: str, where: Where, path: Path, chain: tuple[Path, ...]) -> None:
        word, _, rest = line.partition(" ")
        if word.lower() != "#include":
            raise DialplanError(f"{where}: {word} is not supported")
        name = rest.strip().strip('"').strip("<>")
        if not name:
            raise DialplanError(f"{where}: #include without a file name")
        target = Path(name) if Path(name).is_absolute() else path.parent / name
        section = self.section
        self.read_file(target, chain)
        self.section = section  # an included file's section ends with it only if it opened one

    def start_section(self, line: str, where: Where) -> None:
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m is None:
            raise DialplanError(
                f"{where}: {line!r}: templates and options after [] are not supported"
            )
        self.section = m.group(1).strip()
        self.last = None
        if self.section not in {"general", "globals"}:
            self.config.contexts.setdefault(self.section, Context(self.section))

    def entry(self, line: str, where: Where) -> None:
        if "=" not in line:
            raise DialplanError(f"{where}: expected 'name = value' or 'exten => ...', got {line!r}")
        key, _, value = line.partition("=")
        key = key.strip()
        value = value[1:] if value.startswith(">") else value
        value = value.strip()
        if not self.section:
            raise DialplanError(f"{where}: {key} outside of any [section]")
        if self.section == "general":
            self.general(key.lower(), value, where)
        elif self.section == "globals":
            self.config.globals[key] = value
        elif key.lower() == "exten":
            self.exten(value, where)
        elif key.lower() == "same":
            if self.last is None:
                raise DialplanError(f"{where}: 'same =>' without an extension before it")
            self.step(self.last, value, where)
        else:
            raise DialplanError(f"{where}: '{key} =>' is not supported in a context")

    def general(self, key: str, value: str, where: Where) -> None:
        if key not in GENERAL_SETTINGS:
            raise DialplanError(f"{where}: [general] {key} is not supported")
        required = GENERAL_SETTINGS[key]
        if required is not None and value.lower() != required:
            raise DialplanError(
                f"{where}: [general] {key} = {value} is not supported (only {required})"
            )

    def exten(self, value: str, where: Where) -> None:
        name, comma, rest = value.partition(",")
        name = name.strip()
        if not comma or not name:
            raise DialplanError(f"{where}: 'exten =>' needs extension,priority,application")
        if "/" in name:
            raise DialplanError(f"{where}: caller ID matching ({name}) is not supported")
        try:
            patterns.check(name)
        except patterns.PatternError as exc:
            raise DialplanError(f"{where}: {exc}") from exc
        context = self.config.contexts[self.section]
        extension = context.get(name)
        if extension is None:
            extension = Extension(name)
            context.extensions.append(extension)
        self.last = extension
        self.step(extension, rest, where)

    def step(self, extension: Extension, value: str, where: Where) -> None:
        priority_text, comma, app_text = value.partition(",")
        if not comma:
            raise DialplanError(f"{where}: expected priority,application in {value!r}")
        m = _PRIORITY.match(priority_text.strip())
        if m is None:
            raise DialplanError(f"{where}: priority {priority_text.strip()!r} is not supported")
        priority = self.last_priority + 1 if m.group(1) == "n" else int(m.group(1))
        if priority in extension.steps:
            raise DialplanError(
                f"{where}: {extension.name} priority {priority} already defined at "
                f"{extension.steps[priority].where}"
            )
        label = m.group(2)
        if label:
            if label in extension.labels:
                raise DialplanError(f"{where}: label {label} defined twice in {extension.name}")
            extension.labels[label] = priority
        extension.steps[priority] = parse_application(app_text.strip(), where)
        self.last_priority = priority


def parse_application(text: str, where: Where) -> Step:
    """``App(args)`` (or a bare ``App``) → a :class:`Step`; unknown applications and
    functions are refused here, at load time."""
    m = _APP.match(text)
    if m is None:
        raise DialplanError(f"{where}: cannot read the application in {text!r}")
    name, args = m.group(1), m.group(2) or ""
    app = APPLICATIONS.get(name.lower())
    if app is None:
        raise DialplanError(f"{where}: application {name}() is not supported by the simulator")
    for function in functions_used(args):
        if function.upper() not in FUNCTIONS:
            raise DialplanError(f"{where}: function {function}() is not supported by the simulator")
    if app == "ExecIf":
        for branch in _exec_if_branches(args):
            parse_application(branch, where)
    return Step(app, args, where)


def _exec_if_branches(args: str) -> list[str]:
    _, question, rest = args.partition("?")
    if not question:
        return []
    return [part for part in split_outside_parens(rest, ":", 1) if part.strip()]


def split_outside_parens(text: str, sep: str, limit: int = -1) -> list[str]:
    """Split ``text`` at ``sep`` characters that are not inside ``(...)`` or ``${...}``."""
    parts: list[str] = []
    depth = 0
    start = 0
    for i, c in enumerate(text):
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        elif c == sep and depth == 0 and (limit < 0 or len(parts) < limit):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _strip_comment(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line) and line[i + 1] == ";":
            out.append(";")
            i += 2
            continue
        if c == ";":
            break
        out.append(c)
        i += 1
    return "".join(out)

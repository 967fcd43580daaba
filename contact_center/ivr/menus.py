"""IVR menus as YAML files: model, loader and validation with file:line:reason errors.

A menu file ``ivr_menus/<name>.yaml`` holds ``nodes`` keyed by id, an optional ``start`` node
(files without one are libraries of shared nodes), ``languages`` and the ``prompts`` texts
that ``contact-center ivr prompts`` turns into audio. A node names others by target:
``node`` in the same file, ``menu:node`` in another, ``menu:`` for another menu's start.
Prompts are paths under ``<dir>/prompts/<language>/`` without the ``.wav``.

Validation covers YAML syntax, duplicate keys, unknown node types and keys, missing targets,
unreachable nodes, loops that never wait for the caller, missing prompt files and unsafe paths.
A broken file never takes the others down; :class:`MenuLibrary` keeps the last good version of
a file whose reload fails.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PROMPT_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
DIGIT_KEYS = set("0123456789*#")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

INPUT_TYPES = frozenset({"menu", "collect", "identify", "language"})
LOOKUPS = ("balance", "last_payment", "order_status", "variable")


@dataclass(frozen=True, slots=True, order=True)
class MenuError:
    """One problem: where (file and line) and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class MenuLoadError(Exception):
    """A menu set could not be used; ``errors`` lists every problem."""

    def __init__(self, errors: list[MenuError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# --- YAML with line numbers ---------------------------------------------------------------


class LMap(dict[str, Any]):
    """A mapping that remembers the line of itself, of each key and of each value."""

    line: int
    key_lines: dict[str, int]
    value_lines: dict[str, int]


class LList(list[Any]):
    line: int
    item_lines: list[int]


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        self.key = key
        self.line = line


def _to_python(node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        out = LMap()
        out.line = node.start_mark.line + 1
        out.key_lines = {}
        out.value_lines = {}
        constructor.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = str(_to_python(key_node, constructor))
            if key in out:
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            out[key] = _to_python(value_node, constructor)
            out.key_lines[key] = key_node.start_mark.line + 1
            out.value_lines[key] = value_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        items = LList(_to_python(item, constructor) for item in node.value)
        items.line = node.start_mark.line + 1
        items.item_lines = [item.start_mark.line + 1 for item in node.value]
        return items
    return constructor.construct_object(node, deep=True)


def load_yaml_with_lines(text: str) -> Any:
    """Parse YAML keeping line numbers (1-based) on mappings and lists."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is None:
        return None
    return _to_python(node, yaml.constructor.SafeConstructor())


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """One validated node. ``values`` holds its fields with defaults filled in."""

    id: str
    type: str
    line: int
    values: Mapping[str, Any]
    value_lines: Mapping[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    @property
    def waits_for_input(self) -> bool:
        return self.type in INPUT_TYPES


@dataclass(frozen=True, slots=True)
class Menu:
    """One menu file."""

    name: str
    path: str
    start: str | None
    languages: tuple[str, ...]
    nodes: Mapping[str, Node]
    prompts: Mapping[str, Mapping[str, str]]  # prompt path -> {language: text}
    title: str = ""
    start_line: int = 1


# --- per-type field specs -------------------------------------------------------------------

T, P, INT, NUM, BOOL, STR, VAR = "target", "prompt", "int", "num", "bool", "str", "var"
OPTIONS, LANGS, VARS, LIST, WEEK, DATES, STATUSES, TZ, TERM = (
    "options",
    "langs",
    "vars",
    "list",
    "week",
    "dates",
    "statuses",
    "tz",
    "terminator",
)


@dataclass(frozen=True, slots=True)
class F:
    kind: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()


REQ = True
SPECS: dict[str, dict[str, F]] = {
    "play": {"prompt": F(P, REQ), "interruptible": F(BOOL, default=False), "next": F(T, REQ)},
    "menu": {
        "prompt": F(P, REQ),
        "options": F(OPTIONS, REQ),
        "timeout": F(NUM, default=5.0),
        "retries": F(INT, default=3),
        "invalid_prompt": F(P),
        "on_invalid": F(T, REQ),
        "on_timeout": F(T),
    },
    "collect": {
        "prompt": F(P, REQ),
        "variable": F(VAR, REQ),
        "min": F(INT, default=1),
        "max": F(INT, REQ),
        "terminator": F(TERM, default="#"),
        "timeout": F(NUM, default=5.0),
        "retries": F(INT, default=3),
        "sensitive": F(BOOL, default=False),
        "invalid_prompt": F(P),
        "next": F(T, REQ),
        "on_invalid": F(T, REQ),
        "on_timeout": F(T),
    },
    "identify": {
        "by": F(STR, REQ, choices=("account", "pin")),
        "prompt": F(P, REQ),
        "pin_prompt": F(P),
        "min": F(INT, default=4),
        "max": F(INT, default=12),
        "pin_max": F(INT, default=8),
        "timeout": F(NUM, default=5.0),
        "retries": F(INT, default=3),
        "invalid_prompt": F(P),
        "next": F(T, REQ),
        "on_fail": F(T, REQ),
    },
    "say": {
        "lookup": F(STR, REQ, choices=LOOKUPS),
        "prompt": F(P),
        "variable": F(VAR),
        "as": F(STR, default="digits", choices=("digits", "number")),
        "statuses": F(STATUSES),
        "next": F(T, REQ),
        "on_missing": F(T),
    },
    "language": {
        "prompt": F(P, REQ),
        "options": F(LANGS, REQ),
        "timeout": F(NUM, default=5.0),
        "retries": F(INT, default=2),
        "next": F(T, REQ),
    },
    "hours": {
        "timezone": F(TZ, REQ),
        "open": F(WEEK, REQ),
        "holidays": F(DATES, default=()),
        "on_open": F(T, REQ),
        "on_closed": F(T, REQ),
        "on_holiday": F(T),
    },
    "set": {"variables": F(VARS, REQ), "next": F(T, REQ)},
    "queue": {
        "queue": F(STR, REQ),
        "priority": F(INT, default=0),
        "skills": F(LIST, default=()),
        "prompt": F(P),
    },
    "transfer": {"extension": F(STR, REQ), "context": F(STR, default="agents"), "prompt": F(P)},
    "callback": {
        "queue": F(STR, REQ),
        "prompt": F(P),
        "note": F(STR, default=""),
        "next": F(T, REQ),
    },
    "announce": {
        "queue": F(STR, REQ),
        "position_prompt": F(P, REQ),
        "wait_prompt": F(P, REQ),
        "minutes_prompt": F(P, REQ),
        "next": F(T, REQ),
    },
    "hangup": {"prompt": F(P)},
    "goto": {"target": F(T, REQ)},
    "sub": {"target": F(T, REQ), "next": F(T, REQ)},
    "return": {},
}
NODE_TYPES = tuple(SPECS)


def node_targets(node: Node) -> list[tuple[str, str, int]]:
    """(field, target, line) for every node reference a node makes."""
    spec = SPECS[node.type]
    out: list[tuple[str, str, int]] = []
    for name, f in spec.items():
        value = node.values.get(name)
        if value is None:
            continue
        if f.kind == T:
            out.append((name, value, node.value_lines.get(name, node.line)))
        elif f.kind == OPTIONS:
            for digit, (target, line) in value.items():
                out.append((f"options.{digit}", target, line))
    return out


def node_prompts(node: Node) -> list[tuple[str, int]]:
    """(prompt path, line) for every prompt a node plays."""
    out: list[tuple[str, int]] = []
    for name, f in SPECS[node.type].items():
        value = node.values.get(name)
        if value is None:
            continue
        if f.kind == P:
            out.append((value, node.value_lines.get(name, node.line)))
        elif f.kind == STATUSES:
            out.extend((prompt, line) for prompt, line in value.values())
    return out


# --- parsing one file -----------------------------------------------------------------------


class _FileParser:
    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[MenuError] = []

    def error(self, line: int, reason: str) -> None:
        self.errors.append(MenuError(self.path, line, reason))

    def parse(self, text: str, name: str) -> Menu | None:
        try:
            data = load_yaml_with_lines(text)
        except _DuplicateKey as exc:
            self.error(exc.line, f"duplicate key {exc.key!r}")
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else 1
            reason = f"YAML syntax error: {exc.problem or exc.context}"
            if exc.context and exc.context_mark is not None and exc.problem:
                reason += f" ({exc.context} started at line {exc.context_mark.line + 1})"
            self.error(line, reason)
            return None
        if not isinstance(data, LMap):
            self.error(1, "a menu file must be a mapping with 'nodes'")
            return None
        known = {"title", "start", "languages", "prompts", "nodes"}
        for key in data:
            if key not in known:
                self.error(data.key_lines[key], f"unknown top-level key {key!r}")
        languages = self._languages(data)
        prompts = self._prompts(data, languages)
        nodes_raw = data.get("nodes")
        if not isinstance(nodes_raw, LMap) or not nodes_raw:
            self.error(
                data.key_lines.get("nodes", data.line), "'nodes' must be a non-empty mapping"
            )
            return None
        nodes: dict[str, Node] = {}
        for node_id, raw in nodes_raw.items():
            node = self._node(node_id, raw, nodes_raw.key_lines[node_id])
            if node is not None:
                nodes[node_id] = node
        start = data.get("start")
        if start is not None and (not isinstance(start, str) or start not in nodes_raw):
            self.error(data.value_lines["start"], f"start node {start!r} is not defined")
        if self.errors:
            return None
        return Menu(
            name=name,
            path=self.path,
            start=start,
            languages=languages,
            nodes=MappingProxyType(nodes),
            prompts=MappingProxyType(prompts),
            title=str(data.get("title", "")),
            start_line=data.value_lines.get("start", 1),
        )

    def _languages(self, data: LMap) -> tuple[str, ...]:
        raw = data.get("languages", ["en"])
        if (
            not isinstance(raw, list)
            or not raw
            or not all(isinstance(x, str) and NAME_RE.match(x) for x in raw)
        ):
            self.error(data.value_lines.get("languages", 1), "'languages' must be a list of codes")
            return ("en",)
        return tuple(raw)

    def _prompts(self, data: LMap, languages: tuple[str, ...]) -> dict[str, dict[str, str]]:
        raw = data.get("prompts")
        if raw is None:
            return {}
        if not isinstance(raw, LMap):
            self.error(data.value_lines.get("prompts", 1), "'prompts' must be a mapping")
            return {}
        out: dict[str, dict[str, str]] = {}
        for path, texts in raw.items():
            line = raw.key_lines[path]
            if not self._prompt_path_ok(path, line):
                continue
            if not isinstance(texts, LMap):
                self.error(line, f"prompt {path!r} must map languages to texts")
                continue
            missing = [lang for lang in languages if not isinstance(texts.get(lang), str)]
            if missing:
                self.error(line, f"prompt {path!r} has no text for {', '.join(missing)}")
            out[path] = {str(k): str(v) for k, v in texts.items()}
        return out

    def _prompt_path_ok(self, value: str, line: int) -> bool:
        if value.startswith(("/", "\\", "~")) or ".." in value.split("/") or "\\" in value:
            self.error(line, f"unsafe path {value!r}: prompts must stay inside prompts/")
            return False
        if not PROMPT_RE.match(value):
            self.error(line, f"invalid prompt name {value!r}")
            return False
        return True

    def _node(self, node_id: str, raw: Any, line: int) -> Node | None:
        if not NAME_RE.match(node_id):
            self.error(line, f"invalid node id {node_id!r}")
            return None
        if not isinstance(raw, LMap):
            self.error(line, f"node {node_id!r} must be a mapping")
            return None
        node_type = raw.get("type")
        if node_type not in SPECS:
            where = raw.value_lines.get("type", line)
            if node_type is None:
                self.error(line, f"node {node_id!r} has no 'type'")
            else:
                self.error(
                    where,
                    f"unknown node type {node_type!r} (expected one of: {', '.join(NODE_TYPES)})",
                )
            return None
        spec = SPECS[node_type]
        values: dict[str, Any] = {}
        before = len(self.errors)
        for key in raw:
            if key != "type" and key not in spec:
                self.error(raw.key_lines[key], f"unknown key {key!r} for a {node_type} node")
        for name, f in spec.items():
            if name not in raw:
                if f.required:
                    self.error(line, f"{node_type} node {node_id!r} needs {name!r}")
                values[name] = f.default
                continue
            values[name] = self._value(name, f, raw[name], raw.value_lines[name])
        node = Node(
            node_id,
            node_type,
            line,
            MappingProxyType(values),
            MappingProxyType(dict(raw.value_lines)),
        )
        self._check_node(node)
        return node if len(self.errors) == before else None

    def _value(self, name: str, f: F, value: Any, line: int) -> Any:
        kind = f.kind
        if kind in (T, STR, VAR, P, TZ, TERM) and not isinstance(value, str):
            if kind == STR and isinstance(value, int) and not isinstance(value, bool):
                value = str(value)  # e.g. extension: 100
            else:
                self.error(line, f"{name!r} must be a string")
                return None
        if kind == P:
            return value if self._prompt_path_ok(value, line) else None
        if kind == VAR and not VAR_RE.match(value):
            self.error(line, f"invalid variable name {value!r}")
        if kind == STR and f.choices and value not in f.choices:
            self.error(line, f"{name!r} must be one of: {', '.join(f.choices)}")
        if kind == STR and name in ("queue", "extension", "context") and not NAME_RE.match(value):
            self.error(line, f"invalid {name} {value!r}")
        if kind == TZ:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.error(line, f"unknown timezone {value!r}")
        if kind == TERM and value not in ("#", ""):
            self.error(line, "terminator must be '#' or '' (GET DATA ends on '#' only)")
        if kind == INT and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            self.error(line, f"{name!r} must be a whole number >= 0")
        if kind == NUM:
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                self.error(line, f"{name!r} must be a number of seconds > 0")
            else:
                value = float(value)
        if kind == BOOL and not isinstance(value, bool):
            self.error(line, f"{name!r} must be true or false")
        if kind in (OPTIONS, LANGS, STATUSES):
            return self._mapping(name, kind, value, line)
        if kind == VARS:
            if not isinstance(value, LMap) or not value:
                self.error(line, f"{name!r} must be a mapping of variable names to values")
                return None
            for key in value:
                if not VAR_RE.match(key):
                    self.error(value.key_lines[key], f"invalid variable name {key!r}")
            return MappingProxyType({k: str(v) for k, v in value.items()})
        if kind == LIST:
            if not isinstance(value, list) or not all(
                isinstance(x, str) and NAME_RE.match(x) for x in value
            ):
                self.error(line, f"{name!r} must be a list of names")
                return ()
            return tuple(value)
        if kind == WEEK:
            return self._week(value, line)
        if kind == DATES:
            return self._dates(value, line)
        return value

    def _mapping(self, name: str, kind: str, value: Any, line: int) -> Any:
        if not isinstance(value, LMap) or not value:
            self.error(line, f"{name!r} must be a non-empty mapping")
            return None
        out: dict[str, tuple[str, int]] = {}
        for key, item in value.items():
            key_line = value.value_lines[key]
            if kind in (OPTIONS, LANGS) and key not in DIGIT_KEYS:
                self.error(value.key_lines[key], f"option key {key!r} is not a single digit")
                continue
            if not isinstance(item, str):
                self.error(key_line, f"{name}.{key} must be a string")
                continue
            if kind == STATUSES and not self._prompt_path_ok(item, key_line):
                continue
            out[key] = (item, key_line)
        if kind == LANGS:
            return MappingProxyType({k: v for k, (v, _line) in out.items()})
        return MappingProxyType(out)

    def _week(self, value: Any, line: int) -> Any:
        if not isinstance(value, LMap):
            self.error(line, "'open' must map days (mon, mon-fri) to HH:MM-HH:MM")
            return None
        week: dict[int, list[tuple[dt.time, dt.time]]] = {}
        for key, spans in value.items():
            key_line = value.key_lines[key]
            days = _parse_days(key)
            if days is None:
                self.error(key_line, f"invalid day range {key!r}")
                continue
            items = spans if isinstance(spans, list) else [spans]
            parsed: list[tuple[dt.time, dt.time]] = []
            for span in items:
                match = HOURS_RE.match(str(span))
                if match is None:
                    self.error(key_line, f"invalid hours {span!r} (expected HH:MM-HH:MM)")
                    continue
                h1, m1, h2, m2 = (int(g) for g in match.groups())
                end = dt.time.max if (h2, m2) == (24, 0) else dt.time(h2, m2)
                parsed.append((dt.time(h1, m1), end))
            for day in days:
                week.setdefault(day, []).extend(parsed)
        return MappingProxyType({k: tuple(v) for k, v in week.items()})

    def _dates(self, value: Any, line: int) -> frozenset[dt.date]:
        if not isinstance(value, list):
            self.error(line, "'holidays' must be a list of YYYY-MM-DD dates")
            return frozenset()
        out: set[dt.date] = set()
        lines = getattr(value, "item_lines", [line] * len(value))
        for item, item_line in zip(value, lines, strict=False):
            if isinstance(item, dt.date):
                out.add(item)
                continue
            try:
                out.add(dt.date.fromisoformat(str(item)))
            except ValueError:
                self.error(item_line, f"invalid holiday date {item!r}")
        return frozenset(out)

    def _check_node(self, node: Node) -> None:
        line = node.line
        if node.type in ("collect", "identify"):
            lo, hi = node.get("min", 0), node.get("max", 0)
            if isinstance(lo, int) and isinstance(hi, int) and (hi < 1 or lo > hi):
                self.error(line, f"{node.type} node {node.id!r}: need 1 <= min <= max")
        if node.type == "identify" and node.get("by") == "pin" and not node.get("pin_prompt"):
            self.error(line, f"identify node {node.id!r} by pin needs 'pin_prompt'")
        if node.type == "say":
            lookup = node.get("lookup")
            if lookup in ("order_status", "variable") and not node.get("variable"):
                self.error(line, f"say node {node.id!r}: lookup {lookup} needs 'variable'")
            if lookup == "order_status" and not node.get("statuses"):
                self.error(line, f"say node {node.id!r}: lookup order_status needs 'statuses'")
            if lookup in ("balance", "last_payment", "order_status") and not node.get("on_missing"):
                self.error(line, f"say node {node.id!r}: lookup {lookup} needs 'on_missing'")


def _parse_days(key: str) -> list[int] | None:
    first, _, last = key.lower().partition("-")
    if first not in DAYS or (last and last not in DAYS):
        return None
    a = DAYS.index(first)
    b = DAYS.index(last) if last else a
    return list(range(a, b + 1)) if a <= b else [*range(a, 7), *range(0, b + 1)]


def parse_menu_file(path: Path, display: str | None = None) -> tuple[Menu | None, list[MenuError]]:
    """Parse and check one file on its own (no cross-file checks)."""
    shown = display or str(path)
    parser = _FileParser(shown)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [MenuError(shown, 1, f"cannot read: {exc}")]
    menu = parser.parse(text, path.stem)
    return menu, sorted(parser.errors)


# --- the set of menus ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MenuSet:
    """Menus that passed validation together; targets resolve across files."""

    menus: Mapping[str, Menu]

    def resolve(self, menu: str, target: str) -> tuple[Menu, Node]:
        """The node a target names, seen from ``menu``. KeyError when it does not exist."""
        other, sep, node_id = target.partition(":")
        if not sep:
            other, node_id = menu, target
        m = self.menus[other]
        if not node_id:
            if m.start is None:
                raise KeyError(target)
            node_id = m.start
        return m, m.nodes[node_id]

    def start(self, menu: str) -> tuple[Menu, Node]:
        return self.resolve(menu, f"{menu}:")


def _cross_check(
    menus: Mapping[str, Menu], prompts_dir: Path
) -> tuple[dict[str, list[MenuError]], dict[str, list[MenuError]]]:
    """(reference errors, graph errors) per menu; graph errors only mean something once the
    references are sound, since a dropped file can strand the nodes it used to reach."""
    errors: dict[str, list[MenuError]] = {}
    graph: dict[str, list[MenuError]] = {}
    mset = MenuSet(menus)

    def err(menu: Menu, line: int, reason: str) -> None:
        errors.setdefault(menu.name, []).append(MenuError(menu.path, line, reason))

    edges: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for menu in menus.values():
        for node in menu.nodes.values():
            out = edges.setdefault((menu.name, node.id), [])
            for _field, target, line in node_targets(node):
                try:
                    m, n = mset.resolve(menu.name, target)
                except KeyError:
                    err(menu, line, f"missing target {target!r}")
                    continue
                out.append((m.name, n.id))
            for prompt, line in node_prompts(node):
                for lang in menu.languages:
                    wav = prompts_dir / lang / f"{prompt}.wav"
                    if not wav.is_file():
                        err(menu, line, f"missing prompt file prompts/{lang}/{prompt}.wav")
    if errors:
        return errors, graph

    def graph_err(menu: Menu, line: int, reason: str) -> None:
        graph.setdefault(menu.name, []).append(MenuError(menu.path, line, reason))

    # Reachability from every menu's start (library files are reached through references).
    seen: set[tuple[str, str]] = set()
    stack = [(m.name, m.start) for m in menus.values() if m.start is not None]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(edges.get(key, []))
    for menu in menus.values():
        for node in menu.nodes.values():
            if (menu.name, node.id) not in seen:
                graph_err(menu, node.line, f"unreachable node {node.id!r}")
    for cycle in _loops_without_input(menus, edges):
        first_menu, first_node = cycle[0]
        menu = menus[first_menu]
        names = [n if m == first_menu else f"{m}:{n}" for m, n in [*cycle, cycle[0]]]
        graph_err(menu, menu.nodes[first_node].line, "loop without input: " + " -> ".join(names))
    return errors, graph


def _loops_without_input(
    menus: Mapping[str, Menu], edges: Mapping[tuple[str, str], list[tuple[str, str]]]
) -> list[list[tuple[str, str]]]:
    """Cycles made only of nodes that never wait for the caller (Tarjan's SCC)."""
    quiet = [
        (m.name, n.id) for m in menus.values() for n in m.nodes.values() if not n.waits_for_input
    ]
    quiet_set = set(quiet)
    index: dict[tuple[str, str], int] = {}
    low: dict[tuple[str, str], int] = {}
    on_stack: set[tuple[str, str]] = set()
    stack: list[tuple[str, str]] = []
    cycles: list[list[tuple[str, str]]] = []
    counter = [0]

    def visit(v: tuple[str, str]) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, []):
            if w not in quiet_set:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: list[tuple[str, str]] = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, []):
                order = {key: i for i, key in enumerate(quiet)}
                component.sort(key=order.__getitem__)
                cycles.append(_cycle_order(component, edges))

    for v in quiet:
        if v not in index:
            visit(v)
    return cycles


def _cycle_order(
    component: list[tuple[str, str]], edges: Mapping[tuple[str, str], list[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """Walk the component from its first node, following edges inside it."""
    members = set(component)
    path = [component[0]]
    while True:
        nxt = next((w for w in edges.get(path[-1], []) if w in members), None)
        if nxt is None or nxt == component[0] or nxt in path:
            return path
        path.append(nxt)


def validate_menus(
    candidates: Mapping[str, Menu],
    prompts_dir: Path,
    fallback: Mapping[str, Menu] | None = None,
) -> tuple[dict[str, Menu], list[MenuError]]:
    """Cross-check menus; drop (or fall back for) files with errors until the rest agree."""
    current = dict(candidates)
    rejected: list[MenuError] = []
    used_fallback: set[str] = set()
    for _ in range(len(candidates) + len(fallback or {}) + 1):
        errors, graph = _cross_check(current, prompts_dir)
        errors = errors or graph
        if not errors:
            return current, sorted(set(rejected))
        for name, errs in errors.items():
            rejected.extend(errs)
            old = (fallback or {}).get(name)
            if old is not None and name not in used_fallback and current.get(name) is not old:
                used_fallback.add(name)
                current[name] = old
                log.warning("IVR menu %s rejected; keeping the previous version", name)
            else:
                current.pop(name, None)
    return current, sorted(set(rejected))


def menu_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.is_file())


def check_directory(
    directory: Path, display_dir: str | None = None
) -> tuple[MenuSet, list[MenuError]]:
    """Load and validate every ``*.yaml`` in ``directory``: the good menus and all errors."""
    shown = display_dir if display_dir is not None else str(directory)
    parsed: dict[str, Menu] = {}
    errors: list[MenuError] = []
    for path in menu_files(directory):
        menu, errs = parse_menu_file(path, f"{shown}/{path.name}" if shown else path.name)
        errors.extend(errs)
        if menu is not None:
            parsed[menu.name] = menu
    good, cross = validate_menus(parsed, directory / "prompts")
    return MenuSet(MappingProxyType(good)), sorted(errors + cross)


class MenuLibrary:
    """The menus in use, reloadable: a file that fails keeps its previous good version."""

    def __init__(
        self, directory: Path | str, *, on_error: Callable[[MenuError], None] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.current = MenuSet(MappingProxyType({}))
        self.errors: list[MenuError] = []
        self._on_error = on_error or (lambda e: log.warning("IVR menu: %s", e))

    def reload(self) -> list[MenuError]:
        """Re-read the directory; return the problems (the previous versions stay in use)."""
        parsed: dict[str, Menu] = {}
        errors: list[MenuError] = []
        for path in menu_files(self.directory):
            menu, errs = parse_menu_file(path)
            errors.extend(errs)
            if menu is not None:
                parsed[menu.name] = menu
            elif path.stem in self.current.menus:
                parsed[path.stem] = self.current.menus[path.stem]
        good, cross = validate_menus(parsed, self.directory / "prompts", self.current.menus)
        self.current = MenuSet(MappingProxyType(good))
        self.errors = sorted(errors + cross)
        for error in self.errors:
            self._on_error(error)
        return self.errors

    def names(self) -> Iterable[str]:
        return self.current.menus.keys()

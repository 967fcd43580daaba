"""queues.conf → the queues a simulator runs (the knobs it honours).

Read: ``[queue]`` sections, templates (``[name](!)``) and sections built on them
(``[support](queue-template)``), ``#include`` relative to the including file, ``;`` comments.
Honoured: ``strategy`` (ringall, rrmemory, leastrecent; the first one a section holds, as
Asterisk reads it), ``timeout``, ``retry``,
``servicelevel``, ``wrapuptime``, ``autopause`` (no, yes, all), ``autopausedelay`` and
``[general] shared_lastcall``; every other setting (announcements, …) is read and not
simulated (see README.md). A strategy or autopause mode the simulator does not have is an
error naming the file and line.
"""

from __future__ import annotations

import re
from pathlib import Path

from contact_center.sim.config import QueueConfig
from contact_center.sim.errors import SimError

STRATEGIES = {"ringall", "rrmemory", "leastrecent"}
# app_queue's autopause2int: a true value is "yes", a false one "no"
AUTOPAUSE_MODES = {"no": "no", "yes": "yes", "all": "all"}
_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off", ""}
# Read once, from the section's first line of that name — the template's when the queue is
# built on one that sets it: app_queue.c reload_single_queue takes a static queue's
# strategy with ast_variable_retrieve (the first match; inherited lines come first) and
# queue_set_param skips it after that. Every other setting: the last line wins.
FIRST_WINS = frozenset({"strategy"})
_SECTION = re.compile(r"\[([^\]]+)\]\s*(?:\(([^)]*)\))?")


class QueueConfigError(SimError):
    """A queues.conf the simulator cannot run; the message starts with ``file:line:``."""


def load_queues(*paths: Path) -> tuple[QueueConfig, ...]:
    """The queues defined in these files (later files add to earlier ones)."""
    sections: dict[str, dict[str, tuple[str, str]]] = {}  # name → key → (value, where)
    templates: set[str] = set()
    for path in paths:
        _read(path, sections, templates, chain=())
    general = sections.get("general", {})
    shared_lastcall = general.get("shared_lastcall", ("no", ""))[0].lower() in _TRUE
    queues = []
    for name, settings in sections.items():
        if name == "general" or name in templates:
            continue
        queues.append(_queue(name, settings, shared_lastcall))
    return tuple(queues)


def _read(
    path: Path,
    sections: dict[str, dict[str, tuple[str, str]]],
    templates: set[str],
    chain: tuple[Path, ...],
) -> None:
    if path.resolve() in chain:
        raise QueueConfigError(f"{path}: #include loop")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QueueConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    current: dict[str, tuple[str, str]] | None = None
    for number, raw in enumerate(lines, 1):
        where = f"{path}:{number}"
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.lower().startswith("#include"):
            name = line[len("#include") :].strip().strip('"')
            target = Path(name) if Path(name).is_absolute() else path.parent / name
            _read(target, sections, templates, (*chain, path.resolve()))
            continue
        m = _SECTION.fullmatch(line)
        if m is not None:
            name, options = m.group(1).strip(), (m.group(2) or "").strip()
            current = sections.setdefault(name, {})
            for option in (o.strip() for o in options.split(",") if o.strip()):
                if option == "!":
                    templates.add(name)
                elif option in sections:
                    for inherited, setting in sections[option].items():
                        current.setdefault(inherited, setting)
                else:
                    raise QueueConfigError(f"{where}: unknown template {option!r}")
            continue
        key, eq, value = line.partition("=")
        if not eq or current is None:
            raise QueueConfigError(f"{where}: expected 'name = value' in a [section]")
        key = key.strip().lower()
        if key in FIRST_WINS and key in current:
            continue  # as Asterisk: see FIRST_WINS
        current[key] = (value.lstrip(">").strip(), where)


def _queue(name: str, settings: dict[str, tuple[str, str]], shared_lastcall: bool) -> QueueConfig:
    defaults = QueueConfig(name)
    strategy, where = settings.get("strategy", (defaults.strategy, ""))
    if strategy not in STRATEGIES:
        raise QueueConfigError(f"{where}: strategy {strategy} is not simulated")
    autopause, where = settings.get("autopause", (defaults.autopause, ""))
    mode = autopause.lower()
    mode = "yes" if mode in _TRUE else "no" if mode in _FALSE else mode
    if mode not in AUTOPAUSE_MODES:
        raise QueueConfigError(f"{where}: autopause = {autopause} is not simulated")
    return QueueConfig(
        name,
        strategy=strategy,
        timeout=_number(settings, "timeout", defaults.timeout),
        retry=_number(settings, "retry", defaults.retry),
        servicelevel=int(_number(settings, "servicelevel", defaults.servicelevel)),
        wrapuptime=max(_number(settings, "wrapuptime", defaults.wrapuptime), 0.0),
        autopause=mode,
        autopausedelay=max(_number(settings, "autopausedelay", defaults.autopausedelay), 0.0),
        shared_lastcall=shared_lastcall,
    )


def _number(settings: dict[str, tuple[str, str]], key: str, default: float) -> float:
    if key not in settings:
        return default
    value, where = settings[key]
    try:
        return float(value)
    except ValueError as exc:
        raise QueueConfigError(f"{where}: {key} = {value} is not a number") from exc

"""The ``contact-center`` command line.

Each subcommand is implemented in the package that owns it; this module only parses
arguments and dispatches, importing lazily so that ``contact-center --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# name -> (module, function, help). The function receives (args) and returns an exit code;
# it may add its own arguments through a sibling ``add_arguments_<function>`` function.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("contact_center.service", "cmd_serve", "run the service (web, connector, workers)"),
    "demo": (
        "contact_center.demo",
        "cmd_demo",
        "everything on embedded defaults, with the simulator",
    ),
    "config": ("contact_center.config_cli", "cmd_config", "settings: show, reference"),
    "db": ("contact_center.store.cli", "cmd_db", "database: upgrade / current"),
    "customers": ("contact_center.customers.cli", "cmd_customers", "customers: import / lookup"),
    "users": ("contact_center.web.cli", "cmd_users", "users: add / list / passwd"),
    "ivr": ("contact_center.ivr.cli", "cmd_ivr", "IVR menus: check / prompts"),
    "tariffs": ("contact_center.billing.cli", "cmd_tariffs", "tariffs: import / quote"),
    "rerate": ("contact_center.billing.cli", "cmd_rerate", "re-rate finished calls in a period"),
    "recordings": (
        "contact_center.recording.cli",
        "cmd_recordings",
        "recordings: process, retention",
    ),
    "i18n": ("contact_center.i18n.catalog", "cmd_i18n", "translations: check / update"),
    "replay": ("contact_center.ami.replay", "cmd_replay", "one JSON line per call of a capture"),
    "stats": ("contact_center.stats.cli", "cmd_stats", "queue and operator figures from a capture"),
    "simulate": ("contact_center.sim.cli", "cmd_simulate", "load a running service with calls"),
    "sim-pbx": ("contact_center.sim.cli", "cmd_sim_pbx", "run the Asterisk simulator standalone"),
}


def build_parser(
    available: dict[str, Callable[[argparse.ArgumentParser], None] | None],
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="contact-center", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="TOML configuration file (also CC_CONFIG)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, _func, help_text) in COMMANDS.items():
        if name not in available:
            continue
        p = sub.add_parser(name, help=help_text)
        add = available[name]
        if add is not None:
            add(p)
    return parser


def _resolve(
    name: str,
) -> tuple[
    Callable[[argparse.Namespace], int] | None, Callable[[argparse.ArgumentParser], None] | None
]:
    module_name, func_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None, None  # that part is not built yet
        raise
    func = getattr(module, func_name, None)
    add = getattr(module, f"add_arguments_{func_name}", None)
    return func, add


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    available: dict[str, Callable[[argparse.ArgumentParser], None] | None] = {}
    funcs: dict[str, Callable[[argparse.Namespace], int]] = {}
    for name in COMMANDS:
        if wanted is not None and name != wanted:
            available[name] = None  # listed in help; arguments resolved only when chosen
            continue
        func, add = _resolve(name)
        if func is not None:
            available[name] = add
            funcs[name] = func
    parser = build_parser(available)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    func = funcs.get(args.command)
    if func is None:
        parser.error(f"{args.command}: not available in this build")
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

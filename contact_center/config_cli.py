"""``contact-center config show|reference``: the effective settings (secrets masked), and the
reference of every setting."""

from __future__ import annotations

import argparse
import json

from contact_center.config import load_settings, reference_markdown


def add_arguments_cmd_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("show", "reference"))


def cmd_config(args: argparse.Namespace) -> int:
    if args.what == "reference":
        print(reference_markdown())
        return 0
    print(json.dumps(load_settings(args.config).redacted(), indent=2))
    return 0

"""Keeping the catalogs in step with the code: extract messages, update the PO files, check them.

``contact-center i18n check`` (and the suite) fails on a message the code uses that a catalog
lacks or leaves untranslated; ``contact-center i18n update`` adds the new messages (empty, to be
translated) and marks the ones the code no longer uses as obsolete.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from contact_center.i18n import DEFAULT_LOCALE, LOCALE_DIR, LOCALES

PACKAGE_DIR = Path(__file__).resolve().parent.parent

METHOD_MAP = [
    ("i18n/**", "ignore"),
    ("sim/**", "ignore"),
    ("**.py", "python"),
    ("**/templates/**.html", "jinja2"),
    ("**/static/**.js", "javascript"),
]
OPTIONS = {
    "**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"},
}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "ccT": None,
}


@dataclass(frozen=True)
class Problem:
    lang: str
    msgid: str
    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.lang}] {self.reason}: {self.msgid!r}"


def extract() -> Catalog:
    """Every message the package's Python, templates and JS use, with their locations."""
    catalog = Catalog(project="contact_center", locale=DEFAULT_LOCALE)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR),
        method_map=METHOD_MAP,
        options_map=OPTIONS,
        keywords=KEYWORDS,
        comment_tags=("TRANSLATORS:",),
        strip_comment_tags=True,
    ):
        catalog.add(
            message,
            None,
            [(f"contact_center/{filename}", lineno)],
            auto_comments=comments,
            context=context,
        )
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"


def load(lang: str) -> Catalog:
    path = po_path(lang)
    if not path.is_file():
        return Catalog(locale=lang)
    with path.open("rb") as fh:
        return read_po(fh, locale=lang)


def check(template: Catalog | None = None) -> list[Problem]:
    """What a user would see untranslated: messages missing, empty or fuzzy in a catalog."""
    template = template or extract()
    problems: list[Problem] = []
    for lang in LOCALES:
        if lang == DEFAULT_LOCALE:
            continue
        catalog = load(lang)
        for message in template:
            if not message.id:
                continue
            where = ", ".join(f"{p}:{n}" for p, n in message.locations[:1]) or "?"
            found = catalog.get(message.id, message.context)
            if found is None:
                problems.append(Problem(lang, _first(message.id), where, "not in the catalog"))
            elif found.fuzzy:
                problems.append(Problem(lang, _first(message.id), where, "fuzzy"))
            elif not _translated(found.string):
                problems.append(Problem(lang, _first(message.id), where, "untranslated"))
    return problems


def update() -> Iterator[tuple[str, int]]:
    """Bring each catalog in step with the code; yields (lang, messages still untranslated)."""
    template = extract()
    for lang in LOCALES:
        if lang == DEFAULT_LOCALE:
            continue
        catalog = load(lang)
        catalog.update(template, no_fuzzy_matching=True)
        path = po_path(lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            write_po(fh, catalog, width=100, omit_header=False, ignore_obsolete=True)
        missing = sum(1 for m in catalog if m.id and not _translated(m.string))
        yield lang, missing


def _first(msgid: object) -> str:
    return msgid[0] if isinstance(msgid, tuple) else str(msgid)


def _translated(value: object) -> bool:
    if isinstance(value, tuple | list):
        return all(bool(v) for v in value)
    return bool(value)


# --- contact-center i18n ----------------------------------------------------------------------


def add_arguments_cmd_i18n(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="i18n_command", metavar="ACTION", required=True)
    sub.add_parser("check", help="list messages a catalog lacks or leaves untranslated")
    sub.add_parser("update", help="add the code's new messages to every catalog")


def cmd_i18n(args: argparse.Namespace) -> int:
    if getattr(args, "i18n_command", "") == "update":
        for lang, missing in update():
            print(f"{po_path(lang)}: {missing} message(s) to translate")
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} message(s) untranslated", file=sys.stderr)
        return 1
    print("every message is translated")
    return 0

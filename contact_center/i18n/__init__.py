"""Languages of the UI: gettext catalogs (Babel's PO files), the current locale per request.

English is the source language: message ids are the English texts. Each other language has
``locale/<lang>/LC_MESSAGES/messages.po``, read once at first use (no compiled ``.mo`` to keep in
step). The locale of the code running now is a context variable: the web middleware sets it per
request (the user's language, or ``Accept-Language`` before sign-in), a pop is rendered inside
:func:`use_locale` for the operator it goes to.

- Python: ``from contact_center.i18n import gettext as _`` — called at run time, never at import
  time (use :func:`lazy_gettext` for module-level constants).
- Templates: :func:`install` adds ``_()``/``gettext``/``ngettext`` (jinja2's i18n extension,
  new style: ``{{ _("Hello %(name)s", name=x) }}`` escapes ``x``) and the locale-aware filters.
- JS: the page carries the translations of the messages used in ``*.js`` files
  (:func:`js_catalog`), and ``ccT("Text")`` in ``static/app.js`` looks them up.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import datetime, tzinfo
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from babel import Locale, UnknownLocaleError, dates, numbers
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import LazyProxy, NullTranslations, Translations

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "current_locale",
    "format_datetime",
    "format_duration",
    "format_number",
    "gettext",
    "install",
    "js_catalog",
    "language_names",
    "lazy_gettext",
    "negotiate",
    "ngettext",
    "normalise",
    "use_locale",
]

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LOCALE = "en"
# Languages the UI is offered in; the first is the source language.
LOCALES: tuple[str, ...] = ("en", "ru")

_current: ContextVar[str] = ContextVar("cc_locale", default=DEFAULT_LOCALE)


@cache
def _translations(lang: str) -> NullTranslations:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT_LOCALE or not po.is_file():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf)


@cache
def _catalog_entries(lang: str) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """(msgid, msgstr, source files) of every singular message of ``lang``'s catalog."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return ()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    out = []
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or message.fuzzy:
            continue
        files = tuple(str(path) for path, _line in message.locations)
        out.append((message.id, str(message.string or ""), files))
    return tuple(out)


def normalise(lang: str | None) -> str:
    """One of :data:`LOCALES` for a tag such as ``ru-RU`` or ``en_GB``; the default otherwise."""
    if not lang:
        return DEFAULT_LOCALE
    base = lang.replace("_", "-").split("-", 1)[0].strip().lower()
    return base if base in LOCALES else DEFAULT_LOCALE


def negotiate(accept_language: str | None) -> str:
    """The best of :data:`LOCALES` for an ``Accept-Language`` header (q-values honoured)."""
    if not accept_language:
        return DEFAULT_LOCALE
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        piece = part.strip()
        if not piece:
            continue
        tag, _sep, params = piece.partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _eq, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, index, tag.strip()))
    for neg_q, _index, tag in sorted(ranked):
        if neg_q >= 0:
            break
        base = tag.replace("_", "-").split("-", 1)[0].lower()
        if base in LOCALES:
            return base
    return DEFAULT_LOCALE


def current_locale() -> str:
    return _current.get()


@contextlib.contextmanager
def use_locale(lang: str | None) -> Iterator[str]:
    """Run the block in ``lang`` (normalised); restores the previous locale after."""
    token = _current.set(normalise(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_locale(lang: str | None) -> str:
    """Set the locale for the rest of the current task (the web middleware's per-request use)."""
    value = normalise(lang)
    _current.set(value)
    return value


def gettext(message: str, **variables: Any) -> str:
    text = _translations(_current.get()).gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: Any) -> str:
    text = _translations(_current.get()).ngettext(singular, plural, n)
    variables.setdefault("num", n)
    return text % variables


def lazy_gettext(message: str, **variables: Any) -> LazyProxy:
    """A text translated when it is used (for module-level constants)."""
    return LazyProxy(gettext, message, enable_cache=False, **variables)


def language_names() -> dict[str, str]:
    """Each offered language named in itself (for a language picker)."""
    return {
        code: (Locale.parse(code).get_display_name(code) or code).capitalize() for code in LOCALES
    }


# --- locale-aware formatting ------------------------------------------------------------------


def _babel_locale() -> Locale:
    try:
        return Locale.parse(_current.get())
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT_LOCALE)


def format_number(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return "—"
    if digits is not None:
        pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
        return numbers.format_decimal(value, format=pattern, locale=_babel_locale())
    return numbers.format_decimal(value, locale=_babel_locale())


def format_duration(seconds: float | int | None) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour) — the same in every language, as wallboards show it."""
    if seconds is None:
        return "—"
    total = max(0, round(float(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def format_datetime(
    value: datetime | None, tz: tzinfo | str | None = None, format: str = "short"
) -> str:
    """A date and time in the current locale, in ``tz`` (UTC when not given)."""
    if value is None:
        return "—"
    zone = dates.get_timezone(tz) if isinstance(tz, str) else tz
    return dates.format_datetime(value, format=format, tzinfo=zone, locale=_babel_locale())


def format_date(value: datetime | None, tz: tzinfo | str | None = None) -> str:
    if value is None:
        return "—"
    if tz is not None and value.tzinfo is not None:
        value = value.astimezone(dates.get_timezone(tz) if isinstance(tz, str) else tz)
    return dates.format_date(value, format="medium", locale=_babel_locale())


# --- templates and JS -------------------------------------------------------------------------


def install(env: jinja2.Environment) -> jinja2.Environment:
    """Give ``env`` ``_()``, ``gettext``, ``ngettext`` and the locale-aware filters."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext, ngettext, newstyle=True
    )
    env.filters.setdefault("number", format_number)
    env.filters.setdefault("duration", format_duration)
    env.filters.setdefault("datetime_local", format_datetime)
    env.filters.setdefault("date_local", format_date)
    env.globals.setdefault("current_locale", current_locale)
    env.globals.setdefault("js_catalog", js_catalog)
    return env


def js_catalog(lang: str | None = None) -> Mapping[str, str]:
    """Translations of the messages that ``*.js`` files use, for the page to hand to ``ccT``."""
    code = normalise(lang or _current.get())
    return {
        msgid: msgstr
        for msgid, msgstr, files in _catalog_entries(code)
        if msgstr and any(f.endswith(".js") for f in files)
    }

"""The UI's languages: catalogs complete, locale negotiation, formatting per locale."""

from __future__ import annotations

from datetime import UTC, datetime

import jinja2
import pytest

from contact_center import i18n
from contact_center.i18n import catalog


def test_every_message_the_code_uses_is_translated() -> None:
    problems = catalog.check()
    assert [] == [str(p) for p in problems]
    # the check is not vacuous: the code's messages were found and compared
    assert len([m for m in catalog.extract() if m.id]) >= 4


def test_a_message_missing_from_the_catalog_is_reported() -> None:
    template = catalog.extract()
    template.add("A text nobody translated", locations=[("contact_center/x.html", 3)])
    problems = catalog.check(template)
    assert ["contact_center/x.html:3: [ru] not in the catalog: 'A text nobody translated'"] == [
        str(p) for p in problems
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7", "ru"),
        ("en-GB,en;q=0.9,ru;q=0.8", "en"),
        ("de-DE,de;q=0.9,ru;q=0.5", "ru"),
        ("ru;q=0.2,en;q=0.9", "en"),
        ("fr", "en"),
        ("", "en"),
        ("ru;q=0", "en"),
        (";;,q=;", "en"),
    ],
)
def test_accept_language_chooses_an_offered_language(header: str, expected: str) -> None:
    assert expected == i18n.negotiate(header)


def test_templates_and_code_speak_the_current_locale() -> None:
    env = i18n.install(jinja2.Environment(autoescape=True))
    page = env.from_string(
        '<button>{{ _("Sign out") }}</button> {{ _("Not saved: %(reason)s", reason=r) }}'
    )
    with i18n.use_locale("ru-RU"):
        assert "<button>Выйти</button> Не сохранено: &lt;b&gt;" == page.render(r="<b>")
        assert "Выйти" == i18n.gettext("Sign out")
    assert "<button>Sign out</button> Not saved: &lt;b&gt;" == page.render(r="<b>")
    assert "en" == i18n.current_locale()


def test_numbers_dates_and_durations_per_locale() -> None:
    moment = datetime(2026, 12, 6, 21, 5, tzinfo=UTC)
    with i18n.use_locale("ru"):
        assert "1\xa0234,5" == i18n.format_number(1234.5)
        assert "07.12.2026, 00:05" == i18n.format_datetime(moment, "Europe/Moscow")
    with i18n.use_locale("en"):
        assert "1,234.5" == i18n.format_number(1234.5)
        assert "12/7/26, 12:05\u202fAM" == i18n.format_datetime(moment, "Europe/Moscow")
    assert "4:05" == i18n.format_duration(245)
    assert "1:00:01" == i18n.format_duration(3601)


def test_the_page_gets_translations_of_its_js_messages_only() -> None:
    ru = i18n.js_catalog("ru")
    assert "Сохранено." == ru["Saved."]
    assert "Sign out" not in ru  # a template's message, not the JS's
    assert {} == dict(i18n.js_catalog("en"))

"""The pop card in the operator's language, and its history in plain words (no event names,
no hangup cause codes, no actor said twice)."""

from __future__ import annotations

from datetime import UTC, datetime

from contact_center import i18n
from contact_center.customers.lookup import CustomerCard
from contact_center.screenpop.render import CardRenderer, HistoryItem, PopCard

AT = datetime(2026, 12, 1, 10, 15, tzinfo=UTC)


def card(stage: str = "offered", answered: bool = False) -> PopCard:
    ivan = CustomerCard(
        id=7,
        name="Дмитрий Фёдоров",
        company="",
        segment="VIP",
        language="ru",
        email="",
        address="",
        notes="",
        account_number="10000232",
        phones=("+74950370372",),
    )
    history = (
        HistoryItem(
            AT,
            "operator.action",
            "Disposition: resolved",
            "anna",
            "resolved",
            {"action": "disposition", "detail": {"disposition": "resolved"}},
        ),
        HistoryItem(
            AT,
            "call.ended",
            "Call ended answered, caller hung up (cause 16), talk 553 s",
            "caller",
            "answered",
            {"cause": 16, "hung_up_by": "caller", "outcome": "answered", "talk_seconds": 553.0},
        ),
        HistoryItem(
            AT,
            "call.answered",
            "Answered by Anna Smirnova (PJSIP/101) from support after 21 s",
            "Anna Smirnova (PJSIP/101)",
            "",
            {"member_name": "Anna Smirnova", "interface": "PJSIP/101", "hold_seconds": 21.0},
        ),
        HistoryItem(AT, "recording.ready", "recording.ready", "", "", {"recording_id": 3}),
        HistoryItem(AT, "call.queued", "Queued in support at position 1", "caller", "", {}),
    )
    return PopCard(
        server="pbx1",
        call_id="c1",
        stage=stage,
        match="known",
        interface="PJSIP/101",
        caller_number="+74950370372",
        caller_number_raw="74950370372",
        caller_name="Maria Sidorova",
        did="4951110004",
        customers=(ivan,),
        history=history,
        queue="support",
        answered=answered,
    )


def test_history_reads_in_plain_words_with_each_person_once() -> None:
    html = CardRenderer().render(card())
    for raw in ("recording.ready", "cause 16", "(PJSIP/101))", "Queued in support"):
        assert raw not in html, raw
    for words in (
        'Wrap-up: resolved</span> <span class="actor">— anna</span>',
        "Call ended by the caller after 9:13",
        "Answered by Anna Smirnova after 0:21 waiting</span></li>",
        "Call recorded",
    ):
        assert words in html, words


def test_the_name_comes_first_and_the_caller_id_is_labelled() -> None:
    html = CardRenderer().render(card())
    assert html.index("Дмитрий Фёдоров") < html.index("Caller ID:")
    assert 'Caller ID: <bdi class="caller-name">Maria Sidorova</bdi>' in html
    assert "form" not in html.split("Recent interactions")[1]  # no wrap-up while ringing
    assert 'class="wrapup"' in CardRenderer().render(card("answered", answered=True))


def test_the_card_speaks_the_operators_language() -> None:
    renderer = CardRenderer()
    parts = renderer.render_parts(card())  # rendered ahead in English
    with i18n.use_locale("ru"):
        html = renderer.render(card("answered", answered=True), parts)
    for words in (
        "Разговор",
        "Номер определился как:",
        "Последние обращения",
        "Итог: resolved",
        "Клиент завершил разговор через 9:13",
        "Сохранить итог",
    ):
        assert words in html, words
    assert "Recent interactions" not in html
    assert "Recent interactions" in renderer.render(card())  # English stays English

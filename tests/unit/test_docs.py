"""Documentation that is generated must match the code it describes."""

from __future__ import annotations

from pathlib import Path

from contact_center.config import load_settings, reference_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    # Regenerate with: contact-center config reference > docs/configuration.md
    written = (ROOT / "docs" / "configuration.md").read_text()
    assert reference_markdown().rstrip("\n") == written.rstrip("\n")


def test_every_setting_is_in_the_reference() -> None:
    text = reference_markdown()
    for section, values in load_settings(environ={}).redacted().items():
        for key in values:
            assert f"`CC_{section}_{key}`".upper().replace("`CC_", "`CC_") in text.upper()


def test_secrets_are_masked_when_settings_are_shown() -> None:
    shown = load_settings(
        environ={"CC_AMI_SECRET": "s3cret", "CC_WEB_METRICS_TOKEN": "k3y"}
    ).redacted()
    assert ("***", "***") == (shown["ami"]["secret"], shown["web"]["metrics_token"])
    assert "s3cret" not in str(shown)

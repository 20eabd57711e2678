"""Channel icons: shipped SVGs, drawn inline with an accessible name."""

from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import render_to_string

ICONS = Path(settings.BASE_DIR) / "static" / "inbox" / "icons"


@pytest.mark.parametrize(
    ("channel_type", "label", "marker"),
    [
        ("whatsapp", "WhatsApp", "M17.472 14.382"),
        ("telegram", "Telegram", "M11.944 0A12"),
        ("instagram", "Instagram", None),
        ("x", "X (Twitter)", None),
        ("email", "Email", None),
        ("sms", "SMS", None),
        ("webchat", "Web widget", None),
    ],
)
def test_each_channel_type_gets_an_svg_icon_with_its_name(channel_type, label, marker):
    html = render_to_string(
        "conversations/_channel_icon.html",
        {"channel_type": channel_type, "label": label},
    )

    assert html.startswith(f'<span class="channel-icon channel-{channel_type}"')
    assert f'role="img" aria-label="{label}"' in html
    assert f"<title>{label}</title>" in html
    assert not any(
        glyph in html
        for glyph in (
            "\U0001d54f",
            "\u2708",
            "\u260f",
            "\u25ce",
            "\u2709",
            "\U0001f4ac",
        )
    )
    if marker:
        assert marker in html
    shipped = "widget" if channel_type == "webchat" else channel_type
    assert (ICONS / f"{shipped}.svg").read_text().startswith('<svg role="img"')


def test_the_icons_sources_and_licence_are_recorded():
    readme = (ICONS / "README.md").read_text()

    assert "Simple Icons" in readme
    assert "CC0" in readme

"""Languages (docs/translations.md): every page for agents and admins comes in
the member's chosen language, else the browser's; the Spanish catalogue is
complete; the scripts' catalogue follows the same choice."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from automation.services import rule_create
from billing.models import Member
from channels_app.tests.factories import ChannelFactory
from conversations.tests.factories import (
    ContactFactory,
    ConversationFactory,
    MessageFactory,
)
from satisfaction.models import SatisfactionRequest
from satisfaction.services import SKIP_WINDOW, rating_token
from workspace.models import CannedResponse, Label, Team

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
PAGES = [
    ("inbox", {}),
    ("contacts", {}),
    ("preferences", {}),
    ("settings-business", {}),
    ("settings-canned-responses", {}),
    ("settings-labels", {}),
    ("settings-teams", {}),
    ("settings-channels", {}),
    ("settings-channel-new", {}),
    ("settings-webhooks", {}),
    ("settings-webhook-new", {}),
    ("settings-members", {}),
    ("settings-tokens", {}),
    ("settings-plan", {}),
    ("reports", {}),
    ("widget-settings", {}),
    ("delivery-problems", {}),
    ("settings-automation", {}),
    ("settings-automation-new", {}),
]


# ------------------------------------------------------------------ catalogue


def _entries(path: Path) -> list[dict]:
    """The entries of a .po file: msgctxt, msgid, msgid_plural, msgstr(s) and
    flags (enough of the format for these checks)."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": "", "msgstr": []}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] += line
                continue
            if line.startswith("#"):
                continue
            match = re.match(
                r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d\])?) (.*)$", line
            )
            if match:
                key, value = match.group(1), match.group(2)
                if key.startswith("msgstr"):
                    entry["msgstr"].append(_unquote(value))
                else:
                    entry[key] = _unquote(value)
            elif line.startswith('"') and key:
                if key.startswith("msgstr"):
                    entry["msgstr"][-1] += _unquote(line)
                else:
                    entry[key] += _unquote(line)
        if "msgid" in entry:
            entries.append(entry)
    return entries


def _unquote(value: str) -> str:
    return value[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_spanish_catalogue_is_complete(domain):
    entries = _entries(LOCALE / "es" / "LC_MESSAGES" / f"{domain}.po")
    assert len(entries) > 50
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"]
    assert [e["msgid"] for e in messages if "fuzzy" in e["flags"]] == []
    assert [e["msgid"] for e in messages if not all(e["msgstr"])] == []


def test_bin_setup_compiled_the_catalogue():
    # bin/setup runs msgfmt; without the .mo files Django falls back to English.
    assert (LOCALE / "es" / "LC_MESSAGES" / "django.mo").exists()
    with translation.override("es"):
        assert translation.gettext("Inbox") == "Bandeja de entrada"
        assert translation.pgettext("conversation status", "Open") == "Abierta"


# ---------------------------------------------------------------------- pages


@pytest.fixture
def spanish_admin(admin_member) -> Member:
    admin_member.language = "es"
    admin_member.save(update_fields=["language"])
    return admin_member


@pytest.fixture
def workspace_data(spanish_admin):
    """A business with one of everything the pages list, named so that no
    English word of the interface hides in it."""
    business = spanish_admin.business
    channel = ChannelFactory(business=business, name="Canal Zeta")
    contact = ContactFactory(business=business, name="Zoe Quintana")
    conversation = ConversationFactory(
        business=business, channel=channel, contact=contact
    )
    MessageFactory(conversation=conversation, text="Hola, ¿dónde está mi pedido?")
    Label.objects.create(business=business, name="vip")
    Team.objects.create(business=business, name="Ventas")
    CannedResponse.objects.create(
        business=business, short_code="gracias", content="¡Gracias!"
    )
    return conversation


def _visible_text(page: str) -> str:
    """What a person reads or hears: text outside tags and scripts, plus the
    labels, titles, placeholders and alt texts."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    attributes = re.findall(r'\s(?:aria-label|title|placeholder|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(" ".join([text, *attributes]))


def _english_left(text: str) -> list[str]:
    """The interface's English sentences (msgids of two words or more whose
    Spanish differs) that still appear in `text`."""
    found = []
    for entry in _entries(LOCALE / "es" / "LC_MESSAGES" / "django.po")[1:]:
        english = entry["msgid"]
        if "%" in english or "{" in english or "<" in english or " " not in english:
            continue
        if entry["msgstr"][0] == english:
            continue
        if re.search(r"(?<![\w-])" + re.escape(english) + r"(?![\w-])", text):
            found.append(english)
    return found


@pytest.mark.parametrize(("page", "kwargs"), PAGES)
def test_pages_have_no_english_left_in_spanish(
    page, kwargs, spanish_admin, workspace_data
):
    client = Client()
    client.force_login(spanish_admin.user)

    response = client.get(reverse(page, kwargs=kwargs))

    assert response.status_code == 200
    assert response["Content-Language"] == "es"
    body = response.content.decode()
    assert '<html lang="es">' in body
    assert _english_left(_visible_text(body)) == []


def test_an_open_conversation_has_no_english_left_in_spanish(
    spanish_admin, workspace_data
):
    client = Client()
    client.force_login(spanish_admin.user)
    conversation = workspace_data

    page = client.get(reverse("conversation", args=[conversation.pk])).content.decode()
    contact = client.get(f"/contacts/{conversation.contact_id}/").content.decode()

    for body in (page, contact):
        assert _english_left(_visible_text(body)) == []
    assert "Bandeja de entrada" in page
    assert "Responder por" in page
    assert "Resolver" in page


def test_automation_rules_read_in_spanish(spanish_admin, workspace_data):
    business = spanish_admin.business
    label = Label.objects.get(business=business)
    team = Team.objects.get(business=business)
    rule = rule_create(
        business=business,
        data={
            "name": "Reembolsos",
            "trigger": "status_changed",
            "trigger_status": "pending",
            "conditions": {
                "channel_types": ["telegram", "whatsapp"],
                "text_contains": ["reembolso"],
                "contact_attribute": {"key": "plan", "value": "oro"},
                "label_id": label.pk,
                "label_absent": True,
                "business_hours": "closed",
                "languages": ["es", "pt"],
            },
            "actions": {
                "assign_team_id": team.pk,
                "add_label_id": label.pk,
                "priority": "urgent",
                "snooze_minutes": 0,
            },
        },
    )
    client = Client()
    client.force_login(spanish_admin.user)

    rules = client.get(reverse("settings-automation")).content.decode()
    form = client.get(reverse("settings-automation-edit", args=[rule.pk]))
    refused = client.post(reverse("settings-automation-new"), {"trigger": "x"})

    assert _english_left(_visible_text(rules)) == []
    assert "Cambia de estado" in rules or "cambia de estado" in rules
    assert "a pendiente" in rules
    assert "poner la prioridad urgente" in rules
    assert "posponer hasta que el cliente escriba" in rules
    assert _english_left(_visible_text(form.content.decode())) == []
    assert refused.status_code == 400
    refusal = refused.content.decode()
    assert _english_left(_visible_text(refusal)) == []
    assert "Pon un nombre a la regla." in refusal
    assert "Da al menos una acción." in refusal


def test_the_rating_page_follows_the_customers_browser(workspace_data):
    conversation = workspace_data
    resolution = MessageFactory(conversation=conversation, text="resuelta")
    request = SatisfactionRequest.objects.create(
        business=conversation.business,
        conversation=conversation,
        resolution=resolution,
        channel_type=conversation.channel.type,
        status=SatisfactionRequest.Status.ASKED,
    )
    customer = Client(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")
    link = reverse("satisfaction-rate", args=[rating_token(request)])

    form = customer.get(link)
    refused = customer.post(link, {"score": "9", "comment": "Muy bien"})
    customer.post(link, {"score": "5", "comment": "Muy bien"})
    thanks = customer.get(link)
    broken = customer.get(reverse("satisfaction-rate", args=["nada"]))

    for page in (form, refused, thanks, broken):
        body = page.content.decode()
        assert '<html lang="es">' in body
        assert _english_left(_visible_text(body)) == []
    assert "Valora tu conversación" in form.content.decode()
    assert refused.status_code == 400
    assert "Elige una puntuación de 1 (mal) a 5 (genial)." in refused.content.decode()
    assert "Muy bien" in refused.content.decode()
    assert "¡Gracias!" in thanks.content.decode()
    assert broken.status_code == 404
    assert "Este enlace de valoración no es válido" in broken.content.decode()


def test_why_a_customer_was_not_asked_to_rate_reads_in_spanish(
    spanish_admin, workspace_data
):
    conversation = workspace_data
    SatisfactionRequest.objects.create(
        business=conversation.business,
        conversation=conversation,
        resolution=MessageFactory(conversation=conversation, text="resuelta"),
        channel_type="whatsapp",
        status=SatisfactionRequest.Status.SKIPPED,
        skip_reason=SKIP_WINDOW.format(platform="WhatsApp"),
    )
    client = Client()
    client.force_login(spanish_admin.user)

    body = client.get(reverse("conversation", args=[conversation.pk])).content.decode()

    assert "No se pidió una valoración:" in body
    assert "así que WhatsApp no acepta mensajes libres" in body
    assert _english_left(_visible_text(body)) == []


# ------------------------------------------------------------------- choosing


def test_a_member_chooses_spanish_and_it_stays_chosen(admin_member):
    client = Client()
    client.force_login(admin_member.user)

    saved = client.post(reverse("preferences"), {"language": "es"}, follow=True)

    admin_member.refresh_from_db()
    assert admin_member.language == "es"
    assert saved.redirect_chain == [(reverse("preferences"), 302)]
    assert "Idioma guardado." in saved.content.decode()
    # A new session (another browser, English by default) still gets Spanish.
    other = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    other.force_login(admin_member.user)
    inbox = other.get(reverse("inbox")).content.decode()
    assert '<html lang="es">' in inbox
    assert ">Bandeja de entrada</a>" in inbox
    assert (
        'value="es" lang="es" selected'
        in other.get(reverse("preferences")).content.decode()
    )


def test_without_a_choice_the_browser_language_decides(admin_member):
    assert admin_member.language == ""
    client = Client(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9,en;q=0.5")
    client.force_login(admin_member.user)

    inbox = client.get(reverse("inbox"))

    assert inbox["Content-Language"] == "es"
    assert "Accept-Language" in inbox["Vary"]
    english = Client(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    english.force_login(admin_member.user)
    assert ">Inbox</a>" in english.get(reverse("inbox")).content.decode()


def test_choosing_the_browser_language_again_clears_the_choice(spanish_admin):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(spanish_admin.user)

    page = client.post(reverse("preferences"), {"language": ""}, follow=True)

    spanish_admin.refresh_from_db()
    assert spanish_admin.language == ""
    assert "Language saved." in page.content.decode()


def test_an_unknown_language_is_refused_naming_the_field(admin_member):
    client = Client()
    client.force_login(admin_member.user)

    refused = client.post(reverse("preferences"), {"language": "xx"})

    assert refused.status_code == 400
    body = refused.content.decode()
    assert 'id="language-error"' in body
    assert "Choose one of the languages offered" in body
    admin_member.refresh_from_db()
    assert admin_member.language == ""


def test_the_login_page_follows_the_browser():
    page = Client(HTTP_ACCEPT_LANGUAGE="es").get(reverse("login")).content.decode()

    assert "Inicia sesión en PingBack" in page


def test_the_scripts_catalogue_follows_the_member(spanish_admin):
    client = Client()
    client.force_login(spanish_admin.user)

    catalog = client.get(reverse("javascript-catalog")).content.decode()

    assert "Bandeja de entrada" in catalog
    assert "El cliente est\\u00e1 escribiendo\\u2026" in catalog or (
        "El cliente está escribiendo…" in catalog
    )


def test_the_english_check_sees_english(admin_member, workspace_data):
    # The same page in English: the check above is not vacuous.
    admin_member.language = "en"
    admin_member.save(update_fields=["language"])
    client = Client()
    client.force_login(admin_member.user)

    body = client.get(reverse("settings-business")).content.decode()

    assert "Save business hours" in _english_left(_visible_text(body))


def test_a_spanish_request_leaves_the_thread_in_english(spanish_admin):
    # An eager Celery task or the next test in this thread must not inherit it.
    client = Client()
    client.force_login(spanish_admin.user)

    client.get(reverse("inbox"))

    assert translation.get_language() == settings.LANGUAGE_CODE

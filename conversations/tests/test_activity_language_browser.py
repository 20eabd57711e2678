"""Activity entries and notifications in Spanish in a real browser (Chromium,
Playwright): an agent who chose Spanish reads the thread's activity entries
in Spanish, with long and hostile names kept inside the page at 1440 and
390 px, and a colleague's mention reaches her as a browser notification
titled in Spanish."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from automation.services import rule_apply, rule_create
from billing.tests.factories import MemberFactory, UserFactory
from conversations.services import conversation_update, post_note
from conversations.tests.factories import ConversationFactory, MessageFactory
from conversations.tests.test_live_browser import log_in
from conversations.tests.test_shortcuts_notify_browser import CAPTURE_NOTIFICATIONS
from pingback.testing import in_another_thread, wait_for
from workspace.models import Label, Team

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("PINGBACK_SCREENSHOTS", "/tmp/shots-i18n"))
LONG_LABEL = "etiqueta-larguísima-sin-espacios-" + "x" * 7
HOSTILE_TEAM = '<img src=x onerror="alert(1)">Facturación'


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def spanish_thread(admin_member):
    """Ana (who chose Spanish), Emma (English), and a conversation whose
    thread has activity entries of many kinds."""
    admin_member.language = "es"
    admin_member.save(update_fields=["language"])
    ana = admin_member.user
    ana.first_name, ana.last_name = "Ana", "Silva"
    ana.save()
    business = admin_member.business
    business.time_zone = "America/Mexico_City"
    business.save(update_fields=["time_zone"])
    emma = MemberFactory(
        business=business,
        language="en",
        user=UserFactory(username="emma", first_name="Emma", last_name="Reed"),
    )
    team = Team.objects.create(business=business, name=HOSTILE_TEAM)
    label = Label.objects.create(business=business, name=LONG_LABEL, color="#d97706")
    conversation = ConversationFactory(
        business=business, contact__name="Lucía Fernández"
    )
    MessageFactory(
        conversation=conversation,
        text="Hola, mi pedido no ha llegado.",
        sent_at=timezone.now(),
    )
    conversation_update(conversation=conversation, by=emma.user, assignee=ana)
    conversation_update(conversation=conversation, by=ana, labels_add=[label])
    conversation_update(conversation=conversation, by=emma.user, team=team)
    conversation_update(
        conversation=conversation,
        by=ana,
        status="snoozed",
        snoozed_until=datetime(2031, 3, 4, 15, 30, tzinfo=UTC),
    )
    conversation_update(conversation=conversation, by=ana, status="resolved")
    rule = rule_create(
        business=business,
        data={
            "name": "Reembolsos <b>urgentes</b> de clientes VIP en temporada alta",
            "trigger": "message_created",
            "conditions": {},
            "actions": {"priority": "urgent", "snooze_minutes": 45},
        },
    )
    rule_apply(rule=rule, conversation=conversation, message=None, key="t:1")
    return {"conversation": conversation, "emma": emma}


@pytest.mark.parametrize("width", [1440, 390])
def test_a_spanish_agent_reads_activity_and_notifications_in_spanish(
    asgi_server, tasks, admin_member, spanish_thread, browser, width
):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.grant_permissions(["notifications"], origin=asgi_server.url)
    context.add_init_script(CAPTURE_NOTIFICATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, asgi_server, admin_member)
    conversation = spanish_thread["conversation"]

    page.goto(f"{asgi_server.url}/conversations/{conversation.pk}/")
    page.wait_for_selector("body[data-live=connected]")
    entries = page.locator("#thread li.activity")
    expect(entries.first).to_be_visible()
    texts = [t.split(" · ")[0] for t in entries.all_inner_texts()]
    assert texts[:5] == [
        "Emma Reed ha asignado esta conversación a Ana Silva",
        f"Ana Silva ha añadido la etiqueta {LONG_LABEL}",
        f"Emma Reed ha asignado esta conversación al equipo {HOSTILE_TEAM}",
        "Pospuesta por Ana Silva hasta el mar 4 mar 09:30 CST",
        "Ana Silva ha resuelto esta conversación",
    ]
    assert texts[-1] == (
        "Se ha aplicado la regla de automatización «Reembolsos <b>urgentes</b> "
        "de clientes VIP en temporada alta»: prioridad cambiada a urgente; "
        "pospuesta 45 minutos"
    )
    # The hostile team name is text, not markup.
    assert page.locator("#thread img").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"{width}-activity-thread")

    # Emma mentions Ana in another conversation's note.
    other = in_another_thread(
        lambda: ConversationFactory(
            business=admin_member.business, contact__name="Jorge Ruiz"
        )
    )
    in_another_thread(
        lambda: post_note(
            conversation=other,
            author=spanish_thread["emma"].user,
            text=f"@{admin_member.user.username} ¿puedes mirar este reembolso?",
        )
    )
    wait_for(lambda: page.evaluate("window.shown.length") == 1, timeout=20)
    [shown] = page.evaluate("window.shown")
    assert shown["title"] == "Emma Reed te ha mencionado"
    assert shown["body"].endswith("¿puedes mirar este reembolso?")

    page.goto(f"{asgi_server.url}/?view=mentions")
    page.wait_for_selector("body[data-live=connected]")
    expect(page.locator(f"#conversation-{other.pk}")).to_contain_text("Jorge Ruiz")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shot(page, f"{width}-mentions")
    context.close()

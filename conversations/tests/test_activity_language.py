"""Activity entries in the thread and notification titles come in the
language of the agent who reads them (`conversations.activity`): the same
stored rows read in Spanish by an agent who chose Spanish and in English by
one who chose English; rows stored as plain text are shown as stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from automation.services import rule_apply, rule_create
from billing.tests.factories import MemberFactory, UserFactory
from conversations.models import Message
from conversations.services import conversation_update, post_note
from conversations.services.conversations import activity_entry, activity_message
from conversations.tests.factories import ConversationFactory
from conversations.tests.presence_helpers import OWN_ORIGIN, TIMEOUT, session_cookie
from satisfaction.models import SatisfactionRequest
from satisfaction.services import SKIP_OPTED_OUT, rating_submit
from workspace.tests.factories import LabelFactory, TeamFactory

SNOOZE_UNTIL = datetime(2030, 12, 10, 14, 0, tzinfo=UTC)  # a Tuesday


def person(business, username, first, last, **member):
    user = UserFactory(username=username, first_name=first, last_name=last)
    return MemberFactory(business=business, user=user, **member)


@pytest.fixture
def agents(business):
    business.time_zone = "Europe/Madrid"
    business.save(update_fields=["time_zone"])
    return {
        "lucia": person(business, "lucia", "Lucía", "Gómez", language="es"),
        "emma": person(business, "emma", "Emma", "Reed", language="en"),
        "bruno": person(business, "bruno", "Bruno", "Costa"),
    }


def thread_entries(member, conversation) -> list[str]:
    """The activity lines of the thread page as `member` sees it."""
    client = Client()
    client.force_login(member.user)
    response = client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    )
    assert response.status_code == 200
    entries = []
    for message in response.context["thread"]:
        if message.kind == Message.ACTIVITY:
            html = response.content.decode()
            start = html.index(f'id="message-{message.pk}"')
            text_start = html.index('<span dir="auto">', start) + len(
                '<span dir="auto">'
            )
            entries.append(html[text_start : html.index("</span>", text_start)])
    return entries


@pytest.mark.django_db
def test_the_same_activity_entries_read_in_each_agents_language(business, agents):
    lucia, emma, bruno = agents["lucia"], agents["emma"], agents["bruno"]
    conversation = ConversationFactory(business=business)
    vip = LabelFactory(business=business, name="vip")
    billing = TeamFactory(business=business, name="Billing")
    # An entry stored before entries had a kind: shown as it was written.
    activity_message(conversation, "Ana reopened this conversation", by=None).save()
    conversation_update(conversation=conversation, by=emma.user, assignee=bruno.user)
    conversation_update(conversation=conversation, by=emma.user, labels_add=[vip])
    conversation_update(conversation=conversation, by=emma.user, team=billing)
    conversation_update(
        conversation=conversation,
        by=emma.user,
        status="snoozed",
        snoozed_until=SNOOZE_UNTIL,
    )
    conversation_update(conversation=conversation, by=emma.user, status="resolved")
    rule = rule_create(
        business=business,
        data={
            "name": "Urgent <refunds>",
            "trigger": "message_created",
            "conditions": {},
            "actions": {"priority": "urgent", "snooze_minutes": 0},
        },
    )
    rule_apply(rule=rule, conversation=conversation, message=None, key="t:1")
    activity_entry(
        conversation, "csat_skipped", {"reason": SKIP_OPTED_OUT}, by=None
    ).save()
    resolution = conversation.messages.filter(
        text__endswith="resolved this conversation"
    )
    request = SatisfactionRequest.objects.create(
        business=business,
        conversation=conversation,
        resolution=resolution.get(),
        channel_type=conversation.channel_type,
        status=SatisfactionRequest.Status.ASKED,
    )
    rating_submit(request=request, score=4, comment="Quick, thanks")

    spanish = [
        "Ana reopened this conversation",
        "Emma Reed ha asignado esta conversación a Bruno Costa",
        "Emma Reed ha añadido la etiqueta vip",
        "Emma Reed ha asignado esta conversación al equipo Billing",
        "Pospuesta por Emma Reed hasta el mar 10 dic 15:00 CET",
        "Emma Reed ha resuelto esta conversación",
        "Pospuesta por PingBack hasta que el cliente responda",
        "Se ha aplicado la regla de automatización «Urgent &lt;refunds&gt;»: "
        "prioridad cambiada a urgente; pospuesta hasta que el cliente escriba",
        "PingBack no ha pedido al cliente que valore la conversación: el cliente "
        "ha pedido no recibir mensajes en este canal",
        "El cliente ha valorado esta conversación con 4/5 y ha dejado un "
        "comentario (en el panel del cliente)",
    ]
    english = [
        "Ana reopened this conversation",
        "Emma Reed assigned this conversation to Bruno Costa",
        "Emma Reed added label vip",
        "Emma Reed assigned this conversation to team Billing",
        "Snoozed until Tue 10 Dec 15:00 CET by Emma Reed",
        "Emma Reed resolved this conversation",
        "Snoozed until the customer answers by PingBack",
        "Automation rule “Urgent &lt;refunds&gt;” ran: set priority urgent; "
        "snoozed until the customer writes",
        "PingBack did not ask the customer for a rating: the customer opted out "
        "of messages on this channel",
        "The customer rated this conversation 4/5 and left a comment (in the "
        "customer panel)",
    ]
    assert thread_entries(lucia, conversation) == spanish
    assert thread_entries(emma, conversation) == english
    # The stored text (the API's) stays English whoever reads it.
    stored = list(
        conversation.messages.filter(kind="activity")
        .order_by("pk")
        .values_list("text", flat=True)
    )
    assert [text.replace("<", "&lt;").replace(">", "&gt;") for text in stored] == (
        english
    )


@pytest.mark.django_db
def test_an_entry_whose_parameters_do_not_fit_is_shown_as_stored(business, agents):
    conversation = ConversationFactory(business=business)
    entry = activity_message(conversation, "Emma resolved this conversation", by=None)
    entry.details = {"activity": "resolved", "params": {"who": "Emma"}}
    entry.save()

    assert thread_entries(agents["lucia"], conversation) == [
        "Emma resolved this conversation"
    ]


def notification_titles(business, author, text, sockets) -> dict[str, list[str]]:
    """Post `text` as `author`'s note while each of `sockets` (name ->
    (member, extra headers)) is connected to /ws/inbox/; the titles of the
    notifications each heard."""
    from pingback.asgi import application

    conversation = ConversationFactory(business=business)
    cookies = {name: session_cookie(m.user) for name, (m, _) in sockets.items()}

    async def scenario():
        connected = {}
        for name, (_member, headers) in sockets.items():
            socket = WebsocketCommunicator(
                application,
                "/ws/inbox/",
                headers=[
                    (b"origin", OWN_ORIGIN.encode()),
                    (b"cookie", cookies[name].encode()),
                    *headers,
                ],
            )
            assert (await socket.connect(timeout=TIMEOUT))[0]
            connected[name] = socket
        await database_sync_to_async(post_note)(
            conversation=conversation, author=author.user, text=text
        )
        titles: dict[str, list[str]] = {}
        for name, socket in connected.items():
            titles[name] = []
            while not await socket.receive_nothing(timeout=0.5):
                event = await socket.receive_json_from(timeout=TIMEOUT)
                if event["type"] == "notification":
                    titles[name].append(event["title"])
            await socket.disconnect()
        return titles

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_mention_notification_comes_in_each_agents_language(
    business, agents, settings
):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    # Bruno chose no language: his browser's decides.
    spanish_browser = [(b"accept-language", b"es-MX,es;q=0.9,en;q=0.5")]

    titles = notification_titles(
        business,
        agents["emma"],
        "@lucia @bruno the customer wants a refund",
        {
            "lucia": (agents["lucia"], []),
            "bruno": (agents["bruno"], spanish_browser),
            "emma_reader": (
                person(business, "emma2", "Emma", "Two", language="en"),
                spanish_browser,
            ),
        },
    )

    assert titles["lucia"] == ["Emma Reed te ha mencionado"]
    assert titles["bruno"] == ["Emma Reed te ha mencionado"]
    assert titles["emma_reader"] == []  # not mentioned


@pytest.mark.django_db(transaction=True)
def test_an_english_agent_keeps_english_titles_whatever_the_browser(
    business, agents, settings
):
    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}
    emma = agents["emma"]

    titles = notification_titles(
        business,
        agents["lucia"],
        "@emma mira esto",
        {"emma": (emma, [(b"accept-language", b"es")])},
    )

    assert titles["emma"] == ["Lucía Gómez mentioned you"]


@pytest.mark.django_db
def test_the_snooze_time_follows_the_language_in_the_thread_header(business, agents):
    conversation = ConversationFactory(business=business)
    conversation_update(
        conversation=conversation,
        by=agents["emma"].user,
        status="snoozed",
        snoozed_until=timezone.now() + timedelta(days=400),
    )
    client = Client()
    client.force_login(agents["lucia"].user)
    html = client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    assert "Pospuesta por Emma Reed hasta el " in html


@pytest.mark.django_db
def test_a_rules_latest_runs_read_in_the_admins_language(business, agents):
    admin = person(business, "rosa", "Rosa", "Díaz", role="admin", language="es")
    team = TeamFactory(business=business, name="Billing")
    rule = rule_create(
        business=business,
        data={
            "name": "Refunds",
            "trigger": "message_created",
            "conditions": {},
            "actions": {"assign_team_id": team.pk},
        },
    )
    rule_apply(
        rule=rule,
        conversation=ConversationFactory(business=business),
        message=None,
        key="t:1",
    )
    # A run stored before runs kept their details: shown as stored.
    old = rule_apply(
        rule=rule,
        conversation=ConversationFactory(business=business),
        message=None,
        key="t:2",
    )
    old.details = {}
    old.summary = "Automation rule “Refunds” ran: routed to team Sales"
    old.save()
    client = Client()
    client.force_login(admin.user)

    html = client.get(
        reverse("settings-automation-edit", kwargs={"rule_id": rule.pk})
    ).content.decode()

    assert (
        "Se ha aplicado la regla de automatización «Refunds»: enviada al equipo "
        "Billing" in html
    )
    assert "Automation rule “Refunds” ran: routed to team Sales" in html
    assert "routed to team Billing" not in html


@pytest.mark.django_db
def test_entries_stored_as_english_sentences_are_converted_by_the_migration(
    business, agents
):
    from importlib import import_module

    from django.apps import apps

    migration = import_module("conversations.migrations.0020_activity_kinds")
    conversation = ConversationFactory(business=business)
    texts = [
        "Ana Silva resolved this conversation",
        "Ana Silva assigned this conversation to team Billing",
        "Ana Silva assigned this conversation to Bruno Costa",
        "Ana Silva added label needs review",
        "PingBack assigned this conversation to Bruno Costa (auto-assignment)",
        "Reopened by the customer",
        "The customer rated this conversation 2/5",
        "Snoozed until Tue 9 Dec 09:00 EST by Ana Silva",  # no year: kept
        "Automation rule “R” ran: routed to team Billing; added label vip",  # kept
    ]
    for text in texts:
        activity_message(conversation, text, by=None).save()

    migration.forwards(apps, None)

    assert thread_entries(agents["lucia"], conversation) == [
        "Ana Silva ha resuelto esta conversación",
        "Ana Silva ha asignado esta conversación al equipo Billing",
        "Ana Silva ha asignado esta conversación a Bruno Costa",
        "Ana Silva ha añadido la etiqueta needs review",
        "PingBack ha asignado esta conversación a Bruno Costa (asignación automática)",
        "Reabierta por el cliente",
        "El cliente ha valorado esta conversación con 2/5",
        "Snoozed until Tue 9 Dec 09:00 EST by Ana Silva",
        "Automation rule “R” ran: routed to team Billing; added label vip",
    ]
    assert thread_entries(agents["emma"], conversation) == texts
    migration.backwards(apps, None)
    assert not Message.objects.filter(details__has_key="activity").exists()

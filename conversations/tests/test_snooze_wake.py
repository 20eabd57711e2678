"""A snoozed conversation comes back: when its time is up (the beat task
`conversations.wake_snoozed`, exactly once however many run), or at once when
the customer writes (a signed webhook through the real inbound path)."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.tasks import wake_snoozed
from conversations.tests.factories import (
    ContactFactory,
    ContactIdentityFactory,
    ConversationFactory,
)
from pingback.testing import wait_for
from sandbox.platforms.x.payloads import DEMO_APP, XUser, dm_payload, new_id, sign

WOKEN_TEXT = "Reopened: the snooze ended"


def snoozed(business, minutes: int | None) -> Conversation:
    until = None if minutes is None else timezone.now() + timedelta(minutes=minutes)
    return ConversationFactory(business=business, status="snoozed", snoozed_until=until)


def state(conversation: Conversation) -> tuple[str, list[str]]:
    conversation.refresh_from_db()
    texts = list(
        conversation.messages.filter(kind="activity").values_list("text", flat=True)
    )
    return conversation.status, texts


@pytest.mark.django_db
def test_the_wake_task_reopens_only_due_snoozes_and_only_once(business):
    # given
    due = [snoozed(business, -5), snoozed(business, -1)]
    later = snoozed(business, 60)
    until_answered = snoozed(business, None)

    # when
    first, second = wake_snoozed(), wake_snoozed()

    # then
    assert (first, second) == (2, 0)
    for conversation in due:
        assert state(conversation) == ("open", [WOKEN_TEXT])
        assert conversation.snoozed_until is None
    assert state(later) == ("snoozed", [])
    assert state(until_answered) == ("snoozed", [])


@pytest.mark.django_db(transaction=True)
def test_two_wake_runs_at_once_reopen_each_conversation_exactly_once(business):
    # given
    due = [snoozed(business, -1) for _ in range(40)]
    start = threading.Barrier(2)
    results: list[int] = []

    def run() -> None:
        try:
            start.wait()
            results.append(wake_snoozed())
        finally:
            close_old_connections()

    # when
    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then
    assert sum(results) == 40
    assert Message.objects.filter(kind="activity", text=WOKEN_TEXT).count() == 40
    assert set(
        Conversation.objects.filter(pk__in=[c.pk for c in due]).values_list(
            "status", flat=True
        )
    ) == {"open"}


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_wake_task(business, celery_worker):
    # given
    conversation = snoozed(business, -1)

    # when
    wake_snoozed.delay()

    # then
    assert wait_for(lambda: state(conversation)[0] == "open")
    assert state(conversation) == ("open", [WOKEN_TEXT])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("minutes", [60, None], ids=["until-later", "until-answered"])
def test_a_customer_message_wakes_a_snoozed_conversation_at_once(
    client, business, celery_worker, minutes
):
    # given
    channel = ChannelFactory(business=business)
    customer = XUser(id="2400000000000000777", screen_name="ada", name="Ada")
    identity = ContactIdentityFactory(
        contact=ContactFactory(business=business),
        channel=channel,
        external_id=customer.id,
    )
    until = None if minutes is None else timezone.now() + timedelta(minutes=minutes)
    conversation = ConversationFactory(
        business=business,
        channel=channel,
        contact=identity.contact,
        contact_identity=identity,
        status="snoozed",
        snoozed_until=until,
    )
    body = json.dumps(
        dm_payload(
            account=DEMO_APP.account,
            customer=customer,
            text="Any news?",
            event_id=new_id(),
            created_ms=int(timezone.now().timestamp() * 1000),
        )
    ).encode()

    # when
    response = client.post(
        f"/api/v1/webhooks/x/{channel.pk}",
        data=body,
        content_type="application/json",
        HTTP_X_TWITTER_WEBHOOKS_SIGNATURE=sign(body, DEMO_APP.consumer_secret),
    )

    # then
    assert response.status_code == 200
    assert wait_for(lambda: state(conversation)[0] == "open")
    assert (conversation.status, conversation.snoozed_until) == ("open", None)
    assert list(
        conversation.messages.order_by("id").values_list("kind", "direction", "text")
    ) == [
        ("dm", "inbound", "Any news?"),
        ("activity", "outbound", "Reopened by the customer"),
    ]
    assert conversation.last_message_preview == "Any news?"
    assert conversation.unread_count == 1

"""IMAP polling against a real Dovecot: new mail becomes conversations, a
second poll adds nothing, a UIDVALIDITY change is survived, old mail is left
alone, refused logins alert the channel, one poll per mailbox at a time."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.utils import timezone

from channels_app.models import InboundEvent
from channels_app.services.mailbox import mailbox_poll
from channels_app.tasks import poll_mailboxes
from channels_app.tests.email.conftest import eml, free_port
from conversations.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def poll(django_capture_on_commit_callbacks):
    """Poll a channel's mailbox and run what it scheduled (processing, media)."""

    def run(channel):
        with django_capture_on_commit_callbacks(execute=True):
            return mailbox_poll(channel_id=channel.pk)

    return run


def test_new_mail_becomes_a_conversation_and_a_second_poll_adds_nothing(
    mailbox, email_channel, poll
):
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("message__plain"))
    mailbox.deliver(eml("message__rfc2047_subject"))

    first = poll(channel)
    second = poll(channel)

    assert (first.status, first.fetched, first.accepted) == ("polled", 2, 2)
    assert (second.status, second.fetched) == ("polled", 0)
    conversations = Conversation.objects.order_by("subject")
    assert [(c.channel_type, c.subject, c.contact.name) for c in conversations] == [
        ("email", "My order #4411 never arrived", "Casey Customer"),
        ("email", "Rückerstattung für Bestellung \u2013 Wasserkocher", "Renée Müller"),
    ]
    assert conversations[0].contact_identity.external_id == "casey@customer.test"
    assert list(Message.objects.values_list("text", flat=True).order_by("id")) == [
        "Hello,\n\nI ordered a kettle two weeks ago (order #4411) and it never "
        "arrived.\nCan you check?\n\nCasey",
        "Guten Tag, ich möchte den Wasserkocher zurückgeben. Grüße, Renée",
    ]
    assert InboundEvent.objects.filter(status="processed").count() == 2
    channel.refresh_from_db()
    assert channel.config["imap_last_uid"] == 2


def test_polling_leaves_the_messages_unread_in_the_mailbox(
    mailbox, email_channel, poll
):
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("message__plain"))

    poll(channel)

    with mailbox.session() as box:
        box.folder.set("INBOX")
        [message] = box.fetch(mark_seen=False, headers_only=True)
    assert "\\Seen" not in message.flags


def test_mail_the_server_had_before_the_channel_existed_is_left_alone(
    mailbox, email_channel, poll
):
    with mailbox.session() as box:
        box.append(
            eml("message__rfc2047_subject"),
            "INBOX",
            dt=timezone.now() - timedelta(days=30),
        )
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("message__plain"))

    first = poll(channel)
    mailbox.deliver(eml("message__html_with_script"))
    second = poll(channel)

    assert (first.fetched, second.fetched) == (1, 1)
    assert sorted(Conversation.objects.values_list("subject", flat=True)) == [
        "Broken lid",
        "My order #4411 never arrived",
    ]


def test_a_new_uidvalidity_rescans_and_stores_only_what_is_new(
    mailbox, email_channel, poll
):
    mailbox.recreate_folder("Support")
    channel = email_channel(imap=mailbox, imap_folder="Support")
    mailbox.deliver(eml("message__plain"), "Support")
    poll(channel)
    channel.refresh_from_db()
    old_validity = channel.config["imap_uidvalidity"]

    mailbox.recreate_folder("Support")
    mailbox.deliver(eml("message__plain"), "Support")
    mailbox.deliver(eml("message__html_with_script"), "Support")
    result = poll(channel)

    channel.refresh_from_db()
    assert (result.fetched, result.accepted, result.duplicates) == (2, 1, 1)
    assert channel.config["imap_uidvalidity"] != old_validity
    assert channel.config["imap_last_uid"] == 2
    assert Message.objects.count() == 2
    assert poll(channel).fetched == 0


def test_the_cursor_survives_a_settings_change(
    mailbox, email_channel, poll, admin_api, admin_member
):
    channel = email_channel(imap=mailbox, business=admin_member.business)
    mailbox.deliver(eml("message__plain"))
    poll(channel)

    response = admin_api.patch(
        f"/api/v1/channels/{channel.pk}",
        {"config": {"from_name": "Acme Help", "imap_last_uid": 0}},
        format="json",
    )

    assert response.status_code == 200, response.json()
    channel.refresh_from_db()
    assert channel.config["from_name"] == "Acme Help"
    assert channel.config["imap_last_uid"] == 1
    assert poll(channel).fetched == 0


def test_attachments_are_stored_from_the_polled_message(mailbox, email_channel, poll):
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("message__attachment"))

    poll(channel)

    message = Message.objects.get()
    image, pdf = message.attachments
    assert (image["filename"], image["kind"]) == ("box.png", "image")
    assert (pdf["filename"], pdf["content_type"]) == (
        "receipt-4411.pdf",
        "application/pdf",
    )
    with default_storage.open(pdf["stored"]) as stored:
        assert stored.read() == b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert default_storage.size(image["stored"]) == 70


def test_auto_replies_are_stored_but_become_no_message(mailbox, email_channel, poll):
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("ignored__auto_reply"))

    result = poll(channel)

    assert result.accepted == 1
    event = InboundEvent.objects.get()
    assert (event.status, event.error) == (
        "ignored",
        "automatic message (Auto-Submitted: auto-replied)",
    )
    assert Message.objects.count() == 0


def test_a_refused_login_alerts_the_channel_until_a_poll_works_again(
    mailbox, email_channel, poll
):
    channel = email_channel(imap=mailbox, imap_password="not-the-password")
    mailbox.deliver(eml("message__plain"))

    refused = poll(channel)
    channel.refresh_from_db()
    alert = channel.alert
    channel.secrets = {**channel.secrets, "imap_password": mailbox.password}
    channel.save()
    fixed = poll(channel)

    assert refused.status == "refused"
    assert alert == (
        "IMAP polling stopped: The IMAP server 127.0.0.1 refused the login: "
        "[AUTHENTICATIONFAILED] Authentication failed."
    )
    assert fixed.status == "polled"
    channel.refresh_from_db()
    assert channel.alert == ""
    assert Message.objects.count() == 1


def test_a_missing_folder_is_named_in_the_alert(mailbox, email_channel, poll):
    channel = email_channel(imap=mailbox, imap_folder="Archive/Support")

    result = poll(channel)

    channel.refresh_from_db()
    assert result.status == "refused"
    assert channel.alert.startswith(
        "IMAP polling stopped: The IMAP server 127.0.0.1 has no folder Archive/Support:"
    )


def test_an_unreachable_server_is_tried_again_later_without_an_alert(
    mailbox, email_channel, poll
):
    channel = email_channel(imap=mailbox, imap_port=free_port())

    result = poll(channel)

    channel.refresh_from_db()
    assert result.status == "unreachable"
    assert channel.alert == ""


def test_a_mailbox_being_polled_is_not_polled_twice_at_once(
    mailbox, email_channel, poll
):
    channel = email_channel(imap=mailbox)
    mailbox.deliver(eml("message__plain"))
    cache.add(f"pingback:mailbox-poll:{channel.pk}", "1", timeout=60)
    try:
        result = poll(channel)
    finally:
        cache.delete(f"pingback:mailbox-poll:{channel.pk}")

    assert result.status == "locked"
    assert InboundEvent.objects.count() == 0
    assert poll(channel).accepted == 1


def test_the_beat_task_polls_every_active_mailbox(
    dovecot, email_channel, business, django_capture_on_commit_callbacks
):
    business.plan = "pro"
    business.save()
    first, second, third = (dovecot.add_account() for _ in range(3))
    email_channel(imap=first, business=business)
    email_channel(imap=second, business=business)
    email_channel(imap=third, business=business, is_active=False)
    email_channel(business=business)
    for account in (first, second, third):
        account.deliver(eml("message__plain"))

    with django_capture_on_commit_callbacks(execute=True):
        scheduled = poll_mailboxes.delay().get()

    assert scheduled == 2
    assert Conversation.objects.count() == 2


def test_the_beat_schedule_names_the_polling_task(settings):
    from pingback.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["poll-mailboxes"]

    assert app.tasks[entry["task"]].name == poll_mailboxes.name
    assert entry["schedule"] == settings.EMAIL_POLL_INTERVAL

"""The conversation page shows an e-mail safely: its subject, the sanitised
HTML body, and the plain text behind "Show plain text"."""

import pytest
from django.urls import reverse

from channels_app.services.inbound import inbound_event_record
from channels_app.tests.email.conftest import eml
from conversations.models import Conversation

pytestmark = pytest.mark.django_db


def test_an_html_mail_is_shown_sanitised_with_its_subject_and_plain_text(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(business=agent_member.business)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(
            channel=channel,
            body=eml("message__html_with_script"),
            content_type="message/rfc822",
        )
    conversation = Conversation.objects.get()
    client.force_login(agent_member.user)

    page = client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    assert '<div class="subject">Subject: <bdi>Broken lid</bdi></div>' in page
    assert (
        '<div class="html" dir="auto"><p>The lid of my kettle is <b>broken</b>.</p>'
        in page
    )
    assert "<summary>Show plain text</summary>" in page
    assert (
        '<div class="text" dir="auto">The lid of my kettle is broken. '
        "Photo on my site: https://robin.test/lid</div>" in page
    )
    assert "evil.test" not in page
    assert "steal()" not in page
    assert "javascript:" not in page
    assert "tracker.test" not in page


def test_a_plain_mail_is_shown_as_text(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(business=agent_member.business)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(
            channel=channel, body=eml("message__plain"), content_type="message/rfc822"
        )
    conversation = Conversation.objects.get()
    client.force_login(agent_member.user)

    page = client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()

    assert "Subject: <bdi>My order #4411 never arrived</bdi>" in page
    assert "Show plain text" not in page
    assert '<div class="text" dir="auto">Hello,<br><br>I ordered a kettle' in page

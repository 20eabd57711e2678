"""Agents' files on replies, and the signed links that show attachments.

The platform-specific parts (uploading to Telegram, WhatsApp media, Twilio
MediaUrl fetches, inbound media downloads) are tested with each platform.
"""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels_app.tests.factories import ChannelFactory
from conversations.models import Message
from conversations.services.attachments import attachment_link
from conversations.tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def widget_conversation(business):
    """A web widget conversation: its replies may carry files (X's may not)."""
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    return ConversationFactory(business=business, channel=channel)


def messages_url(conversation) -> str:
    return f"/api/v1/conversations/{conversation.pk}/messages"


def reply_with_files(api, conversation, text: str, *files):
    return api.post(
        messages_url(conversation),
        {"text": text, "files": list(files)},
        format="multipart",
    )


def test_a_reply_with_a_file_stores_it_and_links_to_it(
    admin_api, business, django_capture_on_commit_callbacks
):
    # given
    conversation = widget_conversation(business)
    photo = SimpleUploadedFile("parcel.png", PNG, content_type="image/png")

    # when (delivery is left queued: only the stored file is under test here)
    response = reply_with_files(admin_api, conversation, "Here it is", photo)

    # then
    assert response.status_code == 202, response.json()
    [attachment] = response.json()["attachments"]
    assert attachment["kind"] == "image"
    assert attachment["filename"] == "parcel.png"
    assert attachment["content_type"] == "image/png"
    assert attachment["size"] == len(PNG)
    served = admin_api.get("/" + attachment["link"].split("/", 3)[3])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == PNG


def test_an_uploaded_html_file_is_served_as_a_download_not_a_page(
    client, admin_api, business
):
    # given
    conversation = widget_conversation(business)
    page = SimpleUploadedFile(
        "invoice.html", b"<script>alert(1)</script>", content_type="text/html"
    )
    message_id = reply_with_files(admin_api, conversation, "", page).json()["id"]

    # when
    served = client.get(attachment_link(message_id, 0))

    # then
    assert served.status_code == 200
    assert served["Content-Type"] == "application/octet-stream"
    assert served["Content-Disposition"].startswith("attachment;")
    assert served["X-Content-Type-Options"] == "nosniff"


def test_a_forged_or_expired_link_is_404(client, business, settings):
    # given
    message = MessageFactory(
        conversation=ConversationFactory(business=business),
        attachments=[{"kind": "image", "stored": "attachments/x.png"}],
    )
    link = attachment_link(message.pk, 0)

    # then
    assert client.get(link[:-2] + "xx").status_code == 404
    assert client.get(attachment_link(message.pk, 1)).status_code == 404
    settings.ATTACHMENT_LINK_MAX_AGE = -1
    assert client.get(link).status_code == 404


def test_a_reply_needs_text_or_a_file(admin_api, business):
    conversation = ConversationFactory(business=business)

    response = reply_with_files(admin_api, conversation, "")

    assert response.status_code == 400
    assert response.json()["text"] == ["A reply needs text, files or a template."]
    assert not Message.objects.filter(direction="outbound").exists()


def test_more_than_ten_files_is_400(admin_api, business):
    conversation = ConversationFactory(business=business)
    files = [
        SimpleUploadedFile(f"{n}.txt", b"x", content_type="text/plain")
        for n in range(11)
    ]

    response = reply_with_files(admin_api, conversation, "many", *files)

    assert response.status_code == 400
    assert "files" in response.json()


def test_a_file_on_x_is_refused_before_anything_is_stored_or_sent(
    admin_api, business, sandbox, django_capture_on_commit_callbacks
):
    # given: replies to posts on X cannot carry files yet (DMs can)
    conversation = ConversationFactory(business=business, thread_key="tweet:100")
    note = SimpleUploadedFile("note.txt", b"hello", content_type="text/plain")

    # when (a delivery would run eagerly on commit)
    with django_capture_on_commit_callbacks(execute=True):
        response = reply_with_files(admin_api, conversation, "See attached", note)

    # then
    assert response.status_code == 400
    assert response.json() == {
        "files": ["PingBack cannot send files on X; send the text alone."]
    }
    assert not Message.objects.filter(direction="outbound").exists()
    assert sandbox.x.sent_dms == []


def test_a_template_on_a_channel_without_templates_is_400(admin_api, business):
    conversation = ConversationFactory(business=business)

    response = admin_api.post(
        messages_url(conversation),
        {"template": {"name": "order_update", "language": "en_US"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "templates_unsupported"


def test_the_inbox_reply_form_sends_files(client, business, admin_member):
    # given
    conversation = widget_conversation(business)
    client.force_login(admin_member.user)
    photo = SimpleUploadedFile("parcel.png", PNG, content_type="image/png")

    # when
    client.post(
        f"/conversations/{conversation.pk}/reply/", {"text": "", "files": [photo]}
    )

    # then
    message = Message.objects.get(conversation=conversation, direction="outbound")
    assert [a["filename"] for a in message.attachments] == ["parcel.png"]
    page = client.get(f"/conversations/{conversation.pk}/").content.decode()
    # The link's payload (the message and file); its signature carries the
    # second it was made, which may have turned since the page's.
    assert f'src="{attachment_link(message.pk, 0).split(":")[0]}:' in page

"""Attachment files in an S3-compatible bucket shared by every host.

The bucket is a real S3 API served locally by moto's server mode on a free
port, reached through django-storages and boto3 exactly as production reaches
its bucket; inbound media comes through the sandbox's Telegram stand-in
(getFile and the file download over HTTP), outbound files go out through the
Telegram and Twilio stand-ins. The default file-system storage is covered by
`test_attachments.py` and the platforms' media tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import environ
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from moto.server import ThreadedMotoServer

from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms import test_whatsapp as whatsapp
from channels_app.tests.platforms.contract.kits.telegram import KIT as TELEGRAM
from channels_app.tests.platforms.test_sms import form, post_signed, sms_channel
from channels_app.tests.platforms.test_telegram import (
    photo_update,
    reply,
    telegram_channel,
)
from contacts.services.rights import contact_erase
from conversations.models import Conversation, Message
from conversations.services.attachments import attachment_link
from conversations.tests.factories import ConversationFactory, MessageFactory
from pingback.storage import FILE_SYSTEM_BACKEND, S3_BACKEND, media_storages
from sandbox.platforms.telegram.standin import DEMO_BOT, DEMO_CUSTOMER

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
    b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01"
    b"\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4 shipping label for order 1042"
KEY_ID, SECRET, REGION = "pingback-test", "pingback-test-secret", "us-east-1"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 API over HTTP on a free loopback port."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Bucket:
    """A fresh bucket on the local S3 API, and PingBack's storage pointed at
    it (`use`)."""

    def __init__(self, endpoint: str, settings) -> None:
        self.endpoint = endpoint
        self.name = f"pingback-media-{uuid.uuid4().hex[:12]}"
        self._settings = settings
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        self.client.create_bucket(Bucket=self.name)

    def options(self, **changes) -> dict:
        return {
            "bucket_name": self.name,
            "endpoint_url": self.endpoint,
            "region_name": REGION,
            "access_key": KEY_ID,
            "secret_key": SECRET,
            "addressing_style": "path",
            "signature_version": "s3v4",
            **changes,
        }

    def use(self, **changes) -> None:
        """Store attachments in this bucket (Django resets `default_storage`
        when STORAGES changes)."""
        self._settings.STORAGES = {
            **self._settings.STORAGES,
            "default": {"BACKEND": S3_BACKEND, "OPTIONS": self.options(**changes)},
        }

    def keys(self) -> list[str]:
        listed = self.client.list_objects(Bucket=self.name)
        return sorted(item["Key"] for item in listed.get("Contents", ()))

    def body(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=key)["Body"].read()


@pytest.fixture
def bucket(s3_endpoint, settings) -> Bucket:
    return Bucket(s3_endpoint, settings)


def files_on_disk(settings) -> list[Path]:
    return [path for path in Path(settings.MEDIA_ROOT).rglob("*") if path.is_file()]


def customer_sends_photo(client, business, sandbox, capture) -> Message:
    """Casey sends the bot a photo Telegram holds; PingBack fetches it."""
    channel = telegram_channel(business=business)
    held = sandbox.telegram.state.store_file(DEMO_BOT.token, "photos", "jpg", PNG)
    with capture(execute=True):
        TELEGRAM.deliver(client, channel, photo_update(held.file_id, len(PNG)))
    return Message.objects.get(direction="inbound")


def thread_link(client, member, conversation_id: int) -> str:
    """The photo's link on the agent's thread page."""
    client.force_login(member.user)
    page = client.get(f"/conversations/{conversation_id}/").content.decode()
    [link] = re.findall(r'src="(/attachments/[^"]+)"', page)
    return link


# ------------------------------------------------------------------ inbound


def test_an_inbound_photo_is_stored_in_the_bucket_and_streamed_to_the_agent(
    bucket, business, admin_member, sandbox, client, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given
    bucket.use()

    # when
    message = customer_sends_photo(
        client, business, sandbox, django_capture_on_commit_callbacks
    )

    # then the file is in the bucket, not on this host's disk
    [attachment] = message.attachments
    stored = attachment["stored"]
    assert stored.startswith(f"attachments/{business.pk}/{message.pk}/0-")
    assert bucket.keys() == [stored]
    assert bucket.body(stored) == PNG
    assert files_on_disk(settings) == []
    # and the agent's thread shows it, streamed through PingBack
    served = client.get(thread_link(client, admin_member, message.conversation_id))
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["Content-Length"] == str(len(PNG))
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content) == PNG


def test_with_redirects_the_thread_link_answers_302_to_a_presigned_url(
    bucket, business, admin_member, sandbox, client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given files are served by redirect to the bucket
    bucket.use(redirect=True, querystring_expire=120)
    message = customer_sends_photo(
        client, business, sandbox, django_capture_on_commit_callbacks
    )

    # when
    answer = client.get(thread_link(client, admin_member, message.conversation_id))

    # then
    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith(f"{bucket.endpoint}/{bucket.name}/attachments/")
    assert "X-Amz-Expires=120" in location
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert fetched.headers["Content-Disposition"].startswith("inline;")
    # and the URL is signed: without its signature the bucket refuses
    unsigned = requests.get(location.split("?", 1)[0], timeout=10)
    assert unsigned.status_code == 403


def test_a_redirected_non_image_downloads_and_never_renders(
    bucket, business, admin_api, client
):
    # given an agent's HTML file on a web widget conversation
    bucket.use(redirect=True)
    channel = ChannelFactory(business=business, type="webchat", secrets={}, config={})
    conversation = ConversationFactory(business=business, channel=channel)
    page = SimpleUploadedFile(
        "invoice.html", b"<script>alert(1)</script>", content_type="text/html"
    )
    response = admin_api.post(
        f"/api/v1/conversations/{conversation.pk}/messages",
        {"text": "", "files": [page]},
        format="multipart",
    )
    assert response.status_code == 202, response.json()

    # when
    answer = client.get(attachment_link(response.json()["id"], 0))

    # then the bucket is asked to serve it as a download
    fetched = requests.get(answer["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.headers["Content-Type"] == "application/octet-stream"
    assert fetched.headers["Content-Disposition"] == (
        'attachment; filename="invoice.html"'
    )


def test_the_pages_may_load_media_from_where_redirects_lead(
    bucket, business, client, monkeypatch, settings
):
    # given the environment of a deployment on this bucket, with redirects
    for name, value in {
        "PINGBACK_MEDIA_S3_BUCKET": bucket.name,
        "PINGBACK_MEDIA_S3_ENDPOINT_URL": bucket.endpoint,
        "PINGBACK_MEDIA_S3_REGION": REGION,
        "PINGBACK_MEDIA_S3_ACCESS_KEY_ID": KEY_ID,
        "PINGBACK_MEDIA_S3_SECRET_ACCESS_KEY": SECRET,
        "PINGBACK_MEDIA_S3_ADDRESSING_STYLE": "path",
        "PINGBACK_MEDIA_REDIRECT": "1",
        "PINGBACK_MEDIA_REDIRECT_MAX_AGE": "60",
    }.items():
        monkeypatch.setenv(name, value)
    storages, origins = media_storages(environ.Env())
    settings.STORAGES = storages
    bucket.client.put_object(Bucket=bucket.name, Key="attachments/p.png", Body=PNG)
    message = MessageFactory(
        conversation=ConversationFactory(business=business),
        attachments=[
            {
                "kind": "image",
                "content_type": "image/png",
                "stored": "attachments/p.png",
            }
        ],
    )

    # when
    location = client.get(attachment_link(message.pk, 0))["Location"]

    # then the Content-Security-Policy names the origin the image comes from
    parts = urlsplit(location)
    assert origins == [f"{parts.scheme}://{parts.netloc}"]
    assert "X-Amz-Expires=60" in location
    assert requests.get(location, timeout=10).content == PNG


def test_settings_give_the_pages_a_policy_that_allows_the_bucket_origin(bucket):
    # given a deployment's environment with redirects to the bucket
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PINGBACK_ALLOW_DEV_KEYS": "1",
        "PINGBACK_MEDIA_S3_BUCKET": bucket.name,
        "PINGBACK_MEDIA_S3_ENDPOINT_URL": bucket.endpoint,
        "PINGBACK_MEDIA_S3_ADDRESSING_STYLE": "path",
        "PINGBACK_MEDIA_REDIRECT": "1",
    }
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.CONTENT_SECURITY_POLICY['DIRECTIVES']))"
    )

    # when PingBack starts with it
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "DJANGO_SETTINGS_MODULE": "pingback.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then images, audio and video may come from the bucket, scripts may not
    assert result.returncode == 0, result.stderr
    directives = json.loads(result.stdout.strip().splitlines()[-1])
    assert directives["img-src"] == ["'self'", "data:", bucket.endpoint]
    assert directives["media-src"] == ["'self'", bucket.endpoint]
    assert directives["script-src"] == ["'self'"]


@pytest.mark.parametrize("storage", ["file system", "bucket"])
def test_a_link_to_a_file_gone_from_storage_is_404(bucket, business, client, storage):
    if storage == "bucket":
        bucket.use()
    message = MessageFactory(
        conversation=ConversationFactory(business=business),
        attachments=[{"kind": "image", "stored": "attachments/gone.png"}],
    )

    assert client.get(attachment_link(message.pk, 0)).status_code == 404


# ----------------------------------------------------------------- outbound


def test_a_file_an_agent_attaches_is_stored_in_the_bucket_and_sent(
    bucket, business, admin_api, sandbox, client, settings,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given Casey's Telegram chat, files in the bucket
    bucket.use()
    channel = telegram_channel(business=business)
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    with django_capture_on_commit_callbacks(execute=True):
        TELEGRAM.deliver(client, channel, photo_update("AgACAgQ-not-held", 10))
    conversation = Conversation.objects.get()
    label = SimpleUploadedFile("label.pdf", PDF, content_type="application/pdf")

    # when
    with django_capture_on_commit_callbacks(execute=True):
        message = reply(admin_api, conversation, "Here is the label", label)

    # then
    message.refresh_from_db()
    [attachment] = message.attachments
    assert attachment["stored"].startswith(f"attachments/{business.pk}/outbound/")
    assert bucket.keys() == [attachment["stored"]]
    assert bucket.body(attachment["stored"]) == PDF
    assert files_on_disk(settings) == []
    [sent] = sandbox.telegram.sent
    assert (sent["method"], sent["file_name"], sent["file_size"]) == (
        "sendDocument",
        "label.pdf",
        len(PDF),
    )
    assert PDF in [held.content for held in sandbox.telegram.state.files.values()]
    assert message.status == "sent"


def test_a_file_from_the_bucket_is_uploaded_to_whatsapp_byte_for_byte(
    bucket, business, admin_api, sandbox, django_capture_on_commit_callbacks
):
    # given a WhatsApp conversation in its service window, files in the bucket
    bucket.use()
    conversation = whatsapp.customer_conversation(
        whatsapp.sandbox_channel(business=business)
    )
    whatsapp.customer_wrote(sandbox, hours_ago=1)

    # when
    message = whatsapp.reply(
        admin_api,
        conversation,
        django_capture_on_commit_callbacks,
        text="",
        files=[SimpleUploadedFile("label.pdf", PDF, content_type="application/pdf")],
    )

    # then
    message.refresh_from_db()
    assert message.status == "sent", message.error
    assert bucket.keys() == [message.attachments[0]["stored"]]
    [upload] = sandbox.whatsapp.snapshot()["media"]
    assert upload["sha256"] == hashlib.sha256(PDF).hexdigest()


@pytest.mark.django_db(transaction=True)
def test_twilio_fetches_an_mms_file_through_pingback_even_when_links_redirect(
    bucket, business, admin_api, sandbox, client, settings, asgi_server
):
    """PingBack served for real: the Twilio stand-in GETs the MediaUrl it was
    handed, as Twilio does, over HTTP."""
    # given an SMS conversation, files in the bucket served to browsers by
    # redirect
    settings.PINGBACK_PUBLIC_BASE_URL = asgi_server.url
    channel = sms_channel(business=business)
    assert post_signed(client, channel, form("message__sms")).status_code == 200
    conversation = Conversation.objects.get()
    bucket.use(redirect=True)
    photo = SimpleUploadedFile("parcel.png", PNG, content_type="image/png")

    # when the agent sends a photo by MMS
    message = reply(admin_api, conversation, "Your parcel", photo)

    # then Twilio got the file itself from PingBack's link
    [sent] = sandbox.sms.sends
    [media_url] = sent["media_urls"]
    assert media_url.startswith(f"{asgi_server.url}/attachments/")
    deadline = time.monotonic() + 10
    while not sent["media"] and time.monotonic() < deadline:
        time.sleep(0.05)
    [fetched] = sent["media"]
    assert (fetched["status_code"], fetched["content_type"], fetched["size"]) == (
        200,
        "image/png",
        len(PNG),
    )
    direct = client.get(urlsplit(media_url).path)
    assert direct.status_code == 200  # the file itself, no redirect
    assert b"".join(direct.streaming_content) == PNG
    message.refresh_from_db()
    assert message.status in {"sent", "delivered"}, message.error
    # while the agent's own link to the same file redirects to the bucket
    assert client.get(attachment_link(message.pk, 0)).status_code == 302


# ------------------------------------------------------------------- erasure


def test_erasing_a_contact_deletes_its_files_from_the_bucket(
    bucket, business, admin_api, sandbox, client,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given Casey's photo and the agent's file to Casey, both in the bucket
    bucket.use()
    message = customer_sends_photo(
        client, business, sandbox, django_capture_on_commit_callbacks
    )
    sandbox.telegram.open_chat(DEMO_CUSTOMER)
    label = SimpleUploadedFile("label.pdf", PDF, content_type="application/pdf")
    with django_capture_on_commit_callbacks(execute=True):
        reply(admin_api, message.conversation, "", label)
    assert len(bucket.keys()) == 2
    other = bucket.client.put_object(
        Bucket=bucket.name, Key="attachments/someone-else.png", Body=PNG
    )
    assert other["ResponseMetadata"]["HTTPStatusCode"] == 200

    # when
    with django_capture_on_commit_callbacks(execute=True):
        contact_erase(message.conversation.contact, by=None)

    # then only the other customer's file is left
    assert bucket.keys() == ["attachments/someone-else.png"]


# --------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({}, None),
        (
            {"PINGBACK_MEDIA_S3_ENDPOINT_URL": "https://minio.internal:9000"},
            "PINGBACK_MEDIA_S3_ENDPOINT_URL set but PINGBACK_MEDIA_S3_BUCKET is not",
        ),
        (
            {"PINGBACK_MEDIA_REDIRECT": "1"},
            "PINGBACK_MEDIA_REDIRECT set but PINGBACK_MEDIA_S3_BUCKET is not",
        ),
        (
            {
                "PINGBACK_MEDIA_S3_BUCKET": "b",
                "PINGBACK_MEDIA_S3_ADDRESSING_STYLE": "x",
            },
            "PINGBACK_MEDIA_S3_ADDRESSING_STYLE must be auto, virtual or path",
        ),
    ],
)
def test_a_bucket_setting_without_its_bucket_stops_the_start(
    monkeypatch, environment, named
):
    for name in [n for n in os.environ if n.startswith("PINGBACK_MEDIA_")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    if named is None:
        storages, origins = media_storages(environ.Env())
        assert storages["default"] == {"BACKEND": FILE_SYSTEM_BACKEND}
        assert origins == []
        return
    with pytest.raises(ImproperlyConfigured, match=named):
        media_storages(environ.Env())

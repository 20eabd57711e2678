"""E-mail: a support address, read by IMAP polling or a mail provider's inbound
webhook, answered by SMTP so replies thread in the customer's mail client.

Inbound: each raw RFC 822 message (from `channels_app.services.mailbox` or a
provider webhook in `channels_app.email_webhooks`) goes through
`inbound_event_record`, stored under its normalised Message-ID, then parsed
here with the stdlib (`email.policy.default`).
    RFC 5322 (Internet Message Format), RFC 3501 (IMAP4rev1)
    https://docs.python.org/3/library/email.html
    https://imap-tools.readthedocs.io/ (imap-tools)
    https://anymail.dev/en/stable/inbound/ (provider inbound webhooks)
Outbound: SMTP submission (smtplib) with a deterministic Message-ID, and
`In-Reply-To` / `References` pointing at the customer's mail.
    RFC 5321 (SMTP), RFC 6409 (message submission)
    https://docs.python.org/3/library/smtplib.html
The mail servers are reached only through `email_clients`; parsing helpers
are in `email_parse` (headers, bodies) and `email_html` (sanitising).
Details and quirks: docs/platforms/email.md.
"""

from __future__ import annotations

import email.utils
import re
from email.headerregistry import Address
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from rest_framework import serializers

from channels_app.platforms.base import (
    CredentialsRejected,
    DeliveryError,
    FetchedMedia,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    ParsedWebhook,
    PermanentDeliveryError,
    Platform,
    SendResult,
    SetupResult,
)
from channels_app.platforms.email_clients import (
    MailServerRefused,
    imap_check,
    smtp_check,
    smtp_send,
)
from channels_app.platforms.email_html import (
    html_sanitise,
    html_to_text,
    html_without_line,
)
from channels_app.platforms.email_parse import (
    attachment_descriptor,
    attachment_parts,
    bodies,
    event_key,
    header_ids,
    id_normalise,
    ignore_reason,
    is_real_id,
    mail_parse,
    part_bytes,
    part_filename,
    sender,
    sent_at,
    subject,
    thread_key,
)
from channels_app.platforms.email_reply import reply_split

if TYPE_CHECKING:
    from channels_app.models import Channel

# ---------------------------------------------------------------------- constants

RAW_CONTENT_TYPE = "message/rfc822"
SECURITY_CHOICES = ["ssl", "starttls", "none"]
# Mail providers whose inbound webhooks PingBack accepts (through django-anymail).
INBOUND_PROVIDERS = {"mailgun": "Mailgun", "postmark": "Postmark"}
INBOUND_PROVIDER_CHOICES = ["none", *INBOUND_PROVIDERS]
# Prefixes mail clients put before a reply's subject (English, German, Nordic,
# Dutch): a subject that has one is not prefixed again.
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw)\s*:", re.IGNORECASE)
NO_SUBJECT = "(no subject)"

# ------------------------------------------------------------------------- config


class EmailConfigSerializer(serializers.Serializer):
    """Config of an e-mail channel.

    `address` is the support address customers write to (and the `From` of
    replies, with `from_name`). SMTP sends the replies; `smtp_security` is
    `starttls` (submission, port 587), `ssl` (implicit TLS, port 465) or `none`
    (a trusted relay only). Inbound mail comes by IMAP polling of `imap_folder`
    (when `imap_host` is set; `imap_security` as for SMTP, default implicit TLS
    on 993), by a provider's inbound webhook (`inbound_provider`: `mailgun`,
    whose HTTP webhook signing key is `inbound_webhook_key`, or `postmark`,
    whose webhook URL carries HTTP basic auth `user:password` =
    `inbound_webhook_key`), or both. `imap_uidvalidity`, `imap_last_uid` and
    `imap_polled_at` are the polling cursor (see
    `channels_app.services.mailbox`).
    """

    address = serializers.EmailField(
        help_text="The support address customers write to, and the From of replies."
    )
    from_name = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="The name replies come from.",
    )
    smtp_host = serializers.CharField(
        max_length=255, help_text="The SMTP server that sends the replies."
    )
    smtp_port = serializers.IntegerField(
        min_value=1, max_value=65535, default=587, help_text="587 or 465, usually."
    )
    smtp_username = serializers.CharField(max_length=255)
    smtp_password = serializers.CharField(max_length=255)
    smtp_security = serializers.ChoiceField(
        choices=SECURITY_CHOICES,
        default="starttls",
        help_text="starttls (port 587), ssl (implicit TLS, port 465), or none "
        "(a trusted relay only).",
    )
    imap_host = serializers.CharField(
        max_length=255,
        required=False,
        help_text="To fetch incoming mail by IMAP polling (empty: no polling).",
    )
    imap_port = serializers.IntegerField(min_value=1, max_value=65535, default=993)
    imap_security = serializers.ChoiceField(choices=SECURITY_CHOICES, default="ssl")
    imap_username = serializers.CharField(
        max_length=255, required=False, help_text="Required with an IMAP host."
    )
    imap_password = serializers.CharField(
        max_length=255, required=False, help_text="Required with an IMAP host."
    )
    imap_folder = serializers.CharField(max_length=255, default="INBOX")
    inbound_provider = serializers.ChoiceField(
        choices=INBOUND_PROVIDER_CHOICES,
        default="none",
        help_text="A provider whose inbound webhook posts incoming mail: "
        "mailgun or postmark.",
    )
    inbound_webhook_key = serializers.CharField(
        max_length=255,
        required=False,
        help_text="Mailgun: the HTTP webhook signing key. Postmark: the "
        "user:password of the webhook URL's basic auth.",
    )
    # The IMAP cursor, learned by polling (clients cannot set it). Declared so
    # that it survives a settings change: a rescan then starts from the last
    # good poll, not from the channel's creation.
    imap_uidvalidity = serializers.IntegerField(required=False)
    imap_last_uid = serializers.IntegerField(min_value=0, required=False)
    imap_polled_at = serializers.CharField(max_length=40, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        if attrs.get("imap_host"):
            for name in ("imap_username", "imap_password"):
                if not attrs.get(name):
                    errors[name] = ["Required when imap_host is set."]
        provider = attrs["inbound_provider"]
        key = attrs.get("inbound_webhook_key", "")
        if provider != "none" and not key:
            errors["inbound_webhook_key"] = [
                f"Required when inbound_provider is {provider}."
            ]
        elif provider == "postmark" and ":" not in key:
            errors["inbound_webhook_key"] = [
                "For Postmark, a user:password pair for the webhook's basic auth."
            ]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


# ----------------------------------------------------------------------- platform


class EmailPlatform(Platform):
    """An e-mail support address: IMAP or provider webhooks in, SMTP out."""

    channel_type = "email"
    config_serializer = EmailConfigSerializer
    secret_fields = frozenset({"smtp_password", "imap_password", "inbound_webhook_key"})
    # The IMAP cursor (docs/platforms/email.md, "IMAP polling"): the folder's
    # UIDVALIDITY, the last UID stored, and when a poll last went through (ISO 8601).
    learned_fields = frozenset({"imap_uidvalidity", "imap_last_uid", "imap_polled_at"})

    def webhook_url(self, channel: Channel) -> str | None:
        """The provider inbound webhook URL
        (`/api/v1/webhooks/email/<channel id>/<provider>/inbound`, with `/mime`
        for Mailgun), or None when mail arrives by IMAP only."""
        provider = channel.config.get("inbound_provider", "none")
        if provider not in INBOUND_PROVIDERS:
            return None
        # Mailgun posts the raw message only to URLs ending in "mime".
        name = "email-inbound-webhook"
        if provider == "mailgun":
            name += "-mime"
        path = reverse(name, kwargs={"channel_id": channel.id, "provider": provider})
        return settings.PINGBACK_PUBLIC_BASE_URL + path

    def check_credentials(
        self, public: dict[str, Any], secrets: dict[str, str]
    ) -> None:
        """Log in to SMTP, and to IMAP when configured. Raises
        `CredentialsRejected` naming `smtp_password`, `imap_password`,
        `imap_folder`, `smtp_security` or the host (bad certificate) with the
        server's words, or naming `smtp_host` / `imap_host` when the host
        resolves to an address the outbound policy refuses (loopback, private
        networks; see `EGRESS_ALLOWED_HOSTS`), before anything is sent to
        it. An unreachable server is not a refusal."""
        for check in (smtp_check, imap_check):
            try:
                check(public, secrets)
            except MailServerRefused as error:
                raise CredentialsRejected(error.field, error.reason) from error
            except DeliveryError:
                # Unreachable or failing, not a refusal: setup reports it.
                continue

    def parse(self, channel: Channel, body: bytes) -> ParsedWebhook:
        """Parse one raw RFC 822 message into an `InboundMessage`.

        `platform_message_id` is the normalised Message-ID; `thread_key` the
        thread root (`References`, else `In-Reply-To`, else its own id);
        `reply_to_platform_message_id` the `In-Reply-To` id, so a reply to our
        mail continues its conversation. Auto-replies, bounces, list mail and
        our own mail are ignored with a reason. `text` is what the customer
        wrote: the quoted history and the signature go to `details["folded"]`,
        a forwarded message's header to `details["context"]` (see
        `email_reply.reply_split`). Inline images keep their `cid:` source in
        `html` and their `Content-ID` in the attachment's `content_id`. Raises
        `MalformedPayload` when the body is not a message with a sender.
        """
        mail = mail_parse(body)
        key = event_key(mail, body)
        reason = ignore_reason(mail, channel.config.get("address", ""))
        if reason:
            return ParsedWebhook(event_key=key, ignored=(reason,))
        own_ids = header_ids(mail, "Message-ID")
        own_id = own_ids[0] if own_ids else key
        plain, rich = bodies(mail)
        whole_html = html_sanitise(rich, trim_quotes=False) if rich else ""
        parts = reply_split(plain or html_to_text(whole_html), subject=subject(mail))
        forward = parts.forwarded is not None
        html = html_sanitise(rich, trim_quotes=not forward) if rich else ""
        if html and parts.signature and "\n" not in parts.signature:
            html = html_without_line(html, parts.signature)
        replied = header_ids(mail, "In-Reply-To")
        attachments = tuple(
            attachment_descriptor(part, index, key)
            for index, part in enumerate(attachment_parts(mail))
        )
        message = InboundMessage(
            platform_message_id=own_id,
            contact=sender(mail),
            text=parts.text,
            sent_at=sent_at(mail),
            thread_key=thread_key(mail, own_id),
            reply_to_platform_message_id=replied[0] if replied else None,
            attachments=attachments,
            subject=subject(mail),
            html=html,
            details=parts.details(),
        )
        return ParsedWebhook(event_key=key, items=(message,))

    def send(self, channel: Channel, message: OutboundMessage) -> SendResult:
        """Send the reply by SMTP (see `outbound_mail` for the headers) and
        return its Message-ID, normalised, as the platform id. Raises
        `PermanentDeliveryError` for 5xx answers and refused logins (with a
        channel alert), `TransientDeliveryError` for 4xx answers, timeouts and
        connection errors."""
        mail = outbound_mail(channel, message)
        smtp_send(channel.config, channel.secrets, mail, message.recipient_external_id)
        return SendResult(platform_message_id=id_normalise(mail["Message-ID"]))

    def fetch_media(
        self, channel: Channel, attachment: dict[str, Any]
    ) -> FetchedMedia | None:
        """Read an attachment from the stored raw message: `ref` is
        `<event key>#<index>` (see `email_parse.attachment_descriptor`)."""
        from channels_app.models import InboundEvent

        ref = attachment.get("ref")
        if not ref:
            return None
        key, _, index = ref.rpartition("#")
        event = InboundEvent.objects.filter(channel=channel, event_key=key).first()
        if event is None:
            raise PermanentDeliveryError("The e-mail holding this file is not stored.")
        try:
            part = attachment_parts(mail_parse(bytes(event.body)))[int(index)]
        except (MalformedPayload, IndexError, ValueError) as error:
            raise PermanentDeliveryError(
                f"The stored e-mail has no attachment {index}."
            ) from error
        return FetchedMedia(
            content=part_bytes(part),
            content_type=part.get_content_type(),
            filename=part_filename(part, int(index)),
        )

    def setup_name(self, config: dict[str, Any]) -> str:
        """The mailbox address."""
        return str(config.get("address") or "")

    def on_create(self, channel: Channel) -> SetupResult:
        """Log in to SMTP (and IMAP when configured) and say how mail arrives:
        `ready` when every server accepted, `failed` with the servers' words
        otherwise, `action_required` when neither IMAP nor a provider webhook
        brings mail in. Name: the mailbox address."""
        config, secrets = channel.config, channel.secrets
        name = self.setup_name(config)
        problems = []
        for check in (smtp_check, imap_check):
            try:
                check(config, secrets)
            except DeliveryError as error:
                problems.append(error.reason)
        if problems:
            return SetupResult(
                state="failed",
                message=" ".join(problems)
                + " Fix the settings or the server, then run setup again.",
                name=name,
            )
        sending = (
            f"Replies go out through {config['smtp_host']}:{config['smtp_port']} "
            f"from {config['address']}."
        )
        arriving = self._inbound_paths(channel)
        if not arriving:
            return SetupResult(
                state="action_required",
                message=f"{sending} Nothing brings mail in yet: set imap_host (with "
                "imap_username and imap_password) to poll the mailbox, or "
                "inbound_provider and inbound_webhook_key for a provider's inbound "
                "webhook.",
                name=name,
            )
        return SetupResult(
            state="ready", message=" ".join([sending, *arriving]), name=name
        )

    def _inbound_paths(self, channel: Channel) -> list[str]:
        config = channel.config
        paths = []
        if config.get("imap_host"):
            paths.append(
                f"Mail arrives by polling {config.get('imap_folder', 'INBOX')} on "
                f"{config['imap_host']} every {settings.EMAIL_POLL_INTERVAL:g} s."
            )
        url = self.webhook_url(channel)
        provider = config.get("inbound_provider", "none")
        if provider == "mailgun":
            paths.append(
                "Mail arrives by the Mailgun inbound webhook: give the receiving "
                f'route the action forward("{url}").'
            )
        elif provider == "postmark":
            paths.append(
                "Mail arrives by the Postmark inbound webhook: set the server's "
                f"inbound webhook URL to {url} with the user:password of "
                "inbound_webhook_key as basic auth (https://user:password@host/…)."
            )
        return paths


# -------------------------------------------------------------------- outbound


def reply_subject(conversation_subject: str) -> str:
    """`Re: <subject>`, without doubling a reply prefix the subject has."""
    text = conversation_subject.strip() or NO_SUBJECT
    return text if _REPLY_PREFIX.match(text) else f"Re: {text}"


def outbound_message_id(channel: Channel, message_id: int) -> str:
    """The Message-ID of PingBack message `message_id` sent through `channel`:
    the same on every try, so a retried send is recognisably the same mail
    (docs/platforms/email.md, "Sending (SMTP)"). The domain is the support
    address's."""
    domain = channel.config["address"].rpartition("@")[2]
    return f"<pingback.{message_id}.{channel.id.hex}@{domain}>"


def outbound_mail(channel: Channel, message: OutboundMessage) -> EmailMessage:
    """The reply as an RFC 5322 message: `From` "<from_name> <address>", `To`
    the contact, `Subject` "Re: <subject>", the deterministic `Message-ID`,
    `In-Reply-To` the customer's newest mail, `References` the thread root and
    that mail, `Date`; the text body and the agent's files as attachments."""
    config = channel.config
    mail = EmailMessage()
    mail["From"] = Address(
        display_name=config.get("from_name", ""), addr_spec=config["address"]
    )
    mail["To"] = message.recipient_external_id
    mail["Subject"] = reply_subject(message.subject)
    mail["Date"] = email.utils.format_datetime(email.utils.localtime())
    mail["Message-ID"] = outbound_message_id(channel, message.message_id)
    replied = message.reply_to_platform_message_id or ""
    if is_real_id(replied):
        mail["In-Reply-To"] = f"<{replied}>"
    references = list(
        dict.fromkeys(ref for ref in (message.thread_key, replied) if is_real_id(ref))
    )
    if references:
        mail["References"] = " ".join(f"<{ref}>" for ref in references)
    mail.set_content(message.text)
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        with attachment.open() as stored:
            mail.add_attachment(
                stored.read(),
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
    return mail

"""The mail servers an e-mail channel talks to: SMTP through smtplib, IMAP
through imap-tools. The only module that touches either; every failure comes
out as a `DeliveryError` (`MailServerRefused` when the server refused the
channel's settings, naming the config field).

    RFC 5321 (SMTP) §4.2.1 reply codes; RFC 3501 (IMAP4rev1)
    https://docs.python.org/3/library/smtplib.html
    https://imap-tools.readthedocs.io/
    docs/platforms/email.md, "IMAP polling" and "Errors PingBack maps"
"""

from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from email.message import EmailMessage
from typing import Any

from django.conf import settings
from imap_tools import (
    AND,
    BaseMailBox,
    MailBox,
    MailBoxStartTls,
    MailBoxUnencrypted,
    MailMessage,
    U,
)
from imap_tools.errors import (
    ImapToolsError,
    MailboxFolderSelectError,
    MailboxLoginError,
    MailboxStarttlsError,
    UnexpectedCommandStatusError,
)
from imap_tools.utils import check_command_status

from channels_app.platforms.base import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from pingback.egress import EgressRefused, egress_connect

# Messages fetched per IMAP FETCH command.
IMAP_FETCH_BATCH = 20
# The most of a mail server's own words repeated in a reason (login refusals,
# SMTP replies to commands): enough for a reply code and its sentence.
MAX_SERVER_WORDS = 200
ALLOW_HINT = (
    "A mail server on a private network must be listed in the "
    "EGRESS_ALLOWED_HOSTS setting."
)

# ------------------------------------------------------------------ server errors


class MailServerRefused(PermanentDeliveryError):
    """A mail server refused the channel's settings (login, TLS, folder):
    `field` names the config field at fault. Retrying will not help, and the
    whole channel is affected, so it is also the channel's alert."""

    def __init__(self, reason: str, *, field: str, detail: str = "") -> None:
        super().__init__(reason, channel_alert=reason, detail=detail)
        self.field = field


def _words(raw: bytes | str) -> str:
    """A server's words on one line, printable characters only, at most
    `MAX_SERVER_WORDS` characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = " ".join("".join(c for c in text if c.isprintable() or c.isspace()).split())
    if len(text) > MAX_SERVER_WORDS:
        text = text[: MAX_SERVER_WORDS - 1] + "…"
    return text


def _address_refused(error: EgressRefused, field: str, what: str) -> MailServerRefused:
    """The host's address is not allowed by the outbound policy
    (`pingback.egress`): a refusal of the host field, nothing was sent."""
    return MailServerRefused(
        f"PingBack does not connect to this {what} server: {error.reason} {ALLOW_HINT}",
        field=field,
    )


def _unreachable(what: str, error: Exception) -> TransientDeliveryError:
    """A connection that failed before the server said anything useful
    (`what`: "SMTP", "IMAP server mail.example.com"): the kind of failure
    only (the OS's words for an OSError), never what the other end sent."""
    if isinstance(error, OSError) and error.strerror:
        detail = error.strerror
    else:
        detail = type(error).__name__
    return TransientDeliveryError(f"Could not reach the {what}: {detail}")


def _by_code(code: int, words: str, what: str) -> DeliveryError:
    """An SMTP reply: 4xx is worth retrying, 5xx is final (RFC 5321 §4.2.1)."""
    reason = f"{what}: {code} {words}".rstrip()
    if 400 <= code < 500:
        return TransientDeliveryError(reason, status_code=code)
    return PermanentDeliveryError(reason, status_code=code)


def _smtp_error(error: Exception) -> DeliveryError:
    """Classify an smtplib failure (docs/platforms/email.md, "Errors PingBack
    maps"). A server that does not greet as an SMTP server (`SMTPConnectError`)
    is reported without its words: it may be any service at all."""
    if isinstance(error, EgressRefused):
        return _address_refused(error, "smtp_host", "SMTP")
    if isinstance(error, smtplib.SMTPConnectError):
        code = error.smtp_code
        if 400 <= code < 600:
            return _by_code(code, "", "The SMTP server refused the connection")
        return TransientDeliveryError(
            "Could not reach the SMTP server: it did not answer as an SMTP server."
        )
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return MailServerRefused(
            "The SMTP server refused the login: "
            f"{error.smtp_code} {_words(error.smtp_error)}",
            field="smtp_password",
        )
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return MailServerRefused(
            f"The SMTP server does not support this: {error}", field="smtp_security"
        )
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        refusals = list(error.recipients.items())
        code = max(code for _, (code, _) in refusals)
        words = "; ".join(f"{rcpt}: {_words(text)}" for rcpt, (_, text) in refusals)
        return _by_code(code, words, "The mail server refused the recipient")
    if isinstance(error, smtplib.SMTPSenderRefused) and error.smtp_code >= 500:
        # The support address itself may not send: every reply will fail.
        reason = (
            f"The SMTP server refused the sender {error.sender}: "
            f"{error.smtp_code} {_words(error.smtp_error)}"
        )
        return PermanentDeliveryError(
            reason, status_code=error.smtp_code, channel_alert=reason
        )
    if isinstance(error, smtplib.SMTPResponseException):
        return _by_code(
            error.smtp_code, _words(error.smtp_error), "The SMTP server answered"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return MailServerRefused(
            f"The SMTP server's TLS certificate is not valid: {error.verify_message}",
            field="smtp_host",
        )
    if isinstance(error, (smtplib.SMTPServerDisconnected, OSError)):
        return _unreachable("SMTP server", error)
    return PermanentDeliveryError(f"SMTP error: {type(error).__name__}")


def _smtp_call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (smtplib.SMTPException, OSError, EgressRefused) as error:
        raise _smtp_error(error) from error


def smtp_check(config: dict[str, Any], secrets: dict[str, str]) -> None:
    """Connect and log in to the channel's SMTP server. Raises like
    `smtp_session`."""
    with smtp_session(config, secrets):
        pass


def imap_check(config: dict[str, Any], secrets: dict[str, str]) -> None:
    """When IMAP is configured, log in and open the folder. Raises like
    `ImapMailbox`."""
    if config.get("imap_host"):
        with ImapMailbox(config, secrets):
            pass


def smtp_send(
    config: dict[str, Any], secrets: dict[str, str], mail: EmailMessage, recipient: str
) -> None:
    """Send `mail` from the channel's address to `recipient` through the
    channel's SMTP server. Raises like `smtp_session`, and for the server's
    answers to the envelope and data (see `_smtp_error`)."""
    with smtp_session(config, secrets) as client:
        _smtp_call(
            client.send_message,
            mail,
            from_addr=config["address"],
            to_addrs=[recipient],
        )


# --------------------------------------------------------------------- SMTP client


class _VettedSMTP(smtplib.SMTP):
    """smtplib's client, connecting through the outbound policy
    (`egress_connect`: the host's addresses checked, the socket connected to
    a checked one). STARTTLS still verifies the configured host name."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return egress_connect(host, port, timeout=timeout)


class _VettedSMTPSSL(smtplib.SMTP_SSL, _VettedSMTP):
    """Implicit TLS over `_VettedSMTP`'s socket (SMTP_SSL wraps what
    `_VettedSMTP._get_socket` connects, with the configured host name)."""


@contextmanager
def smtp_session(
    config: dict[str, Any], secrets: dict[str, str]
) -> Iterator[smtplib.SMTP]:
    """A logged-in SMTP connection for a channel's config and secrets, closed on
    exit. Connecting, TLS and login failures raise `DeliveryError` subclasses
    (see `_smtp_error`); the timeout is `PLATFORM_API_TIMEOUT` seconds."""
    host, port = config["smtp_host"], config["smtp_port"]
    timeout = settings.PLATFORM_API_TIMEOUT
    security = config.get("smtp_security", "starttls")
    if security == "ssl":
        client = _smtp_call(
            _VettedSMTPSSL,
            host,
            port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        client = _smtp_call(_VettedSMTP, host, port, timeout=timeout)
    try:
        if security == "starttls":
            _smtp_call(client.starttls, context=ssl.create_default_context())
        _smtp_call(client.login, config["smtp_username"], secrets["smtp_password"])
        yield client
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


# --------------------------------------------------------------------- IMAP client


class _RawMailMessage(MailMessage):
    """imap-tools' message, keeping the exact bytes the server sent."""

    def __init__(self, fetch_data: list) -> None:
        super().__init__(fetch_data)
        self.raw: bytes = self._get_message_data_parts(fetch_data)[0]


def _server_words(error: UnexpectedCommandStatusError) -> str:
    """The text of an IMAP server's NO/BAD answer."""
    data = error.command_result[1] or []
    return " ".join(_words(item) for item in data if isinstance(item, bytes | str))


def _imap_error(error: Exception, config: dict[str, Any]) -> DeliveryError:
    """Classify an imap-tools / imaplib failure."""
    host = config["imap_host"]
    if isinstance(error, EgressRefused):
        return _address_refused(error, "imap_host", "IMAP")
    if isinstance(error, MailboxLoginError):
        words = _server_words(error)
        return MailServerRefused(
            f"The IMAP server {host} refused the login: {words}", field="imap_password"
        )
    if isinstance(error, MailboxFolderSelectError):
        words = _server_words(error)
        return MailServerRefused(
            f"The IMAP server {host} has no folder "
            f"{config.get('imap_folder', 'INBOX')}: {words}",
            field="imap_folder",
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return MailServerRefused(
            f"The IMAP server's TLS certificate is not valid: {error.verify_message}",
            field="imap_host",
        )
    return TransientDeliveryError(f"IMAP error on {host}: {_words(str(error))}")


def _imap_connect_error(error: Exception, config: dict[str, Any]) -> DeliveryError:
    """Classify a failure to connect: refused by the policy, a bad
    certificate, or unreachable; a server that does not greet as an IMAP
    server is reported without its words (it may be any service at all)."""
    if isinstance(error, (EgressRefused, ssl.SSLCertVerificationError)):
        return _imap_error(error, config)
    if isinstance(error, (imaplib.IMAP4.error, ImapToolsError)):
        return TransientDeliveryError(
            f"Could not reach the IMAP server {config['imap_host']}: it did not "
            "answer as an IMAP server."
        )
    return _unreachable(f"IMAP server {config['imap_host']}", error)


class _VettedIMAP4(imaplib.IMAP4):
    """imaplib's client, connecting through the outbound policy
    (`egress_connect`); STARTTLS still verifies the configured host name."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        return egress_connect(self.host, self.port, timeout=timeout)


class _VettedIMAP4SSL(imaplib.IMAP4_SSL):
    """Implicit TLS over a socket from the outbound policy, verified against
    the configured host name."""

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = egress_connect(self.host, self.port, timeout=timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


class _VettedMailBox(MailBox):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _VettedIMAP4SSL(
            self._host, self._port, ssl_context=self._ssl_context, timeout=self._timeout
        )


class _VettedMailBoxStartTls(MailBoxStartTls):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        if self._port == 993:
            raise ValueError("Port 993 requires implicit TLS (imap_security ssl).")
        client = _VettedIMAP4(self._host, self._port, timeout=self._timeout)
        check_command_status(client.starttls(self._ssl_context), MailboxStarttlsError)
        return client


class _VettedMailBoxUnencrypted(MailBoxUnencrypted):
    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return _VettedIMAP4(self._host, self._port, timeout=self._timeout)


class ImapMailbox:
    """The IMAP calls PingBack makes for one channel's mailbox, through
    imap-tools: log in, open `imap_folder` read-only, list UIDs, fetch raw
    messages with `BODY.PEEK[]` (leaving `\\Seen` alone).

    Searches send no CHARSET (the criteria are ASCII; some servers refuse
    one). Use as a context manager. Every method raises `MailServerRefused` (login
    or folder refused; `field` names the config field) or
    `TransientDeliveryError` (unreachable, timeouts, protocol errors). The
    timeout is `PLATFORM_API_TIMEOUT` seconds.
    """

    def __init__(self, config: dict[str, Any], secrets: dict[str, str]) -> None:
        self.config = config
        self.secrets = secrets
        self.folder = config.get("imap_folder", "INBOX")
        self.box: BaseMailBox | None = None

    def _call(self, function, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ImapToolsError, imaplib.IMAP4.error, OSError, EgressRefused) as error:
            raise _imap_error(error, self.config) from error

    def _connect(self) -> BaseMailBox:
        config = self.config
        host, port = config["imap_host"], config["imap_port"]
        timeout = settings.PLATFORM_API_TIMEOUT
        security = config.get("imap_security", "ssl")
        if security == "ssl":
            return _VettedMailBox(
                host, port, timeout=timeout, ssl_context=ssl.create_default_context()
            )
        if security == "starttls":
            return _VettedMailBoxStartTls(
                host, port, timeout=timeout, ssl_context=ssl.create_default_context()
            )
        return _VettedMailBoxUnencrypted(host, port, timeout=timeout)

    def __enter__(self) -> ImapMailbox:
        try:
            box = self._connect()
        except (ImapToolsError, imaplib.IMAP4.error, OSError, EgressRefused) as error:
            raise _imap_connect_error(error, self.config) from error
        box.email_message_class = _RawMailMessage
        self.box = box
        try:
            self._call(
                box.login,
                self.config["imap_username"],
                self.secrets["imap_password"],
                initial_folder=None,
            )
            self._call(box.folder.set, self.folder, readonly=True)
        except DeliveryError:
            self._close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.box is None:
            return
        try:
            self.box.logout()
        except (ImapToolsError, imaplib.IMAP4.error, OSError):
            self.box.client.shutdown()
        self.box = None

    def status(self) -> tuple[int, int]:
        """The folder's (UIDVALIDITY, UIDNEXT). When UIDVALIDITY changes, every
        UID is new; UIDNEXT is the UID the next message will get."""
        status = self._call(
            self.box.folder.status, self.folder, ["UIDVALIDITY", "UIDNEXT"]
        )
        return int(status["UIDVALIDITY"]), int(status["UIDNEXT"])

    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending. `UID n:*` always answers the
        highest UID even when it is below n, so those are dropped
        (docs/platforms/email.md, "IMAP polling")."""
        found = self._call(self.box.uids, AND(uid=U(last_uid + 1, "*")), None)
        return sorted(uid for uid in map(int, found) if uid > last_uid)

    def uids_since(self, day: date) -> list[int]:
        """UIDs of messages the server received on or after `day`, ascending."""
        found = self._call(self.box.uids, AND(date_gte=day), None)
        return sorted(map(int, found))

    def _fetch_batch(self, uids: list[str]) -> list[_RawMailMessage]:
        return list(self.box.fetch(uid_list=uids, mark_seen=False, bulk=True))

    def fetch(self, uids: list[int]) -> Iterator[tuple[int, bytes]]:
        """(UID, raw RFC 822 bytes) for `uids`, `IMAP_FETCH_BATCH` per command."""
        for start in range(0, len(uids), IMAP_FETCH_BATCH):
            batch = [str(uid) for uid in uids[start : start + IMAP_FETCH_BATCH]]
            for message in self._call(self._fetch_batch, batch):
                yield int(message.uid), message.raw

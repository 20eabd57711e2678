"""The mail servers an e-mail channel talks to: SMTP through smtplib, IMAP
through imap-tools. The only module that touches either; every failure comes
out as a `DeliveryError` (`MailServerRefused` when the server refused the
channel's settings, naming the config field).

    RFC 5321 (SMTP) §4.2.1 reply codes; RFC 3501 (IMAP4rev1)
    https://docs.python.org/3/library/smtplib.html
    https://imap-tools.readthedocs.io/
    PLATFORMS.md §6.1 (polling), §6.4 (sending errors)
"""

from __future__ import annotations

import imaplib
import smtplib
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
    UnexpectedCommandStatusError,
)

from channels_app.platforms.base import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

# Messages fetched per IMAP FETCH command.
IMAP_FETCH_BATCH = 20

# ------------------------------------------------------------------ server errors


class MailServerRefused(PermanentDeliveryError):
    """A mail server refused the channel's settings (login, TLS, folder):
    `field` names the config field at fault. Retrying will not help, and the
    whole channel is affected, so it is also the channel's alert."""

    def __init__(self, reason: str, *, field: str, detail: str = "") -> None:
        super().__init__(reason, channel_alert=reason, detail=detail)
        self.field = field


def _words(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())


def _by_code(code: int, words: str, what: str) -> DeliveryError:
    """An SMTP reply: 4xx is worth retrying, 5xx is final (RFC 5321 §4.2.1)."""
    reason = f"{what}: {code} {words}"
    if 400 <= code < 500:
        return TransientDeliveryError(reason, status_code=code)
    return PermanentDeliveryError(reason, status_code=code)


def _smtp_error(error: Exception) -> DeliveryError:
    """Classify an smtplib failure (PLATFORMS.md §6.4)."""
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
        return TransientDeliveryError(f"Could not reach the SMTP server: {error}")
    return PermanentDeliveryError(f"SMTP error: {error}")


def _smtp_call(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except (smtplib.SMTPException, OSError) as error:
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
            smtplib.SMTP_SSL,
            host,
            port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        client = _smtp_call(smtplib.SMTP, host, port, timeout=timeout)
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
    return TransientDeliveryError(f"IMAP error on {host}: {error}")


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
        except (ImapToolsError, imaplib.IMAP4.error, OSError) as error:
            raise _imap_error(error, self.config) from error

    def _connect(self) -> BaseMailBox:
        config = self.config
        host, port = config["imap_host"], config["imap_port"]
        timeout = settings.PLATFORM_API_TIMEOUT
        security = config.get("imap_security", "ssl")
        if security == "ssl":
            return MailBox(
                host, port, timeout=timeout, ssl_context=ssl.create_default_context()
            )
        if security == "starttls":
            return MailBoxStartTls(
                host, port, timeout=timeout, ssl_context=ssl.create_default_context()
            )
        return MailBoxUnencrypted(host, port, timeout=timeout)

    def __enter__(self) -> ImapMailbox:
        box = self._call(self._connect)
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
        (PLATFORMS.md §6.1)."""
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

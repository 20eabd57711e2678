"""Real mail servers on loopback for the e-mail tests.

- `dovecot`: Debian's Dovecot (`/usr/sbin/dovecot`), started once per session
  with a temporary config on a free port (plaintext IMAP, a passwd-file of
  users, maildirs in a temporary directory), stopped at the end. `mailbox`
  gives each test a fresh account on it.
- `smtp_server`: an aiosmtpd server on a free port with AUTH, recording the
  messages it accepts; its replies to RCPT and DATA can be set to test refusals.
- `email_channel`: an e-mail channel pointed at them.

Both servers are on loopback, which the outbound policy (`pingback.egress`)
refuses: every e-mail test allows loopback explicitly (`EGRESS_ALLOWED_HOSTS`),
as an on-premises deployment allows its mail server.
"""

from __future__ import annotations

import ctypes
import grp
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imap_tools import MailBoxUnencrypted

from channels_app.models import Channel
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import FIXTURES
from pingback.testing import free_port

DOVECOT = "/usr/sbin/dovecot"
# Accounts written into the test Dovecot's passwd-file (one per test using it).
ACCOUNTS = 200
SUPPORT_ADDRESS = "support@acme.test"
SMTP_USER = "support@acme.test"
SMTP_PASSWORD = "smtp-secret-4411"


@pytest.fixture(autouse=True)
def _mail_servers_on_loopback(settings) -> None:
    """The test mail servers listen on 127.0.0.1: allowed, like an on-premises
    mail server would be."""
    settings.EGRESS_ALLOWED_HOSTS = ["127.0.0.1"]


def eml(name: str) -> bytes:
    """An e-mail fixture's bytes (`fixtures/email/<name>.eml`)."""
    return (FIXTURES / "email" / f"{name}.eml").read_bytes()


def _die_with_the_tests() -> None:
    """In the server's process, before exec: have Linux send it SIGTERM when
    the test run dies, so an interrupted run leaves no server behind
    (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port}")


# ------------------------------------------------------------------------- IMAP


@dataclass(frozen=True)
class ImapAccount:
    """One mailbox on the test Dovecot."""

    host: str
    port: int
    username: str
    password: str

    def config(self, folder: str = "INBOX") -> dict[str, object]:
        return {
            "imap_host": self.host,
            "imap_port": self.port,
            "imap_security": "none",
            "imap_username": self.username,
            "imap_folder": folder,
        }

    def session(self) -> MailBoxUnencrypted:
        return MailBoxUnencrypted(self.host, self.port, timeout=10).login(
            self.username, self.password, initial_folder=None
        )

    def deliver(self, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message in the mailbox (IMAP APPEND), as a delivery would."""
        with self.session() as box:
            box.append(raw, folder)

    def recreate_folder(self, folder: str) -> None:
        """Delete and create `folder` again: it gets a new UIDVALIDITY."""
        with self.session() as box:
            if box.folder.exists(folder):
                box.folder.delete(folder)
            box.folder.create(folder)


class Dovecot:
    """A private Dovecot: its config, maildirs and log live in `root`."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="pb-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.passwd = self.root / "passwd"
        self.log = self.root / "dovecot.log"
        self.process: subprocess.Popen | None = None
        self.numbers = itertools.count(1)
        if os.getuid() == 0:
            # Dovecot refuses to run its login processes or mail as root.
            internal, login = pwd.getpwnam("dovecot"), pwd.getpwnam("dovenull")
            self.mail_user = internal
        else:
            internal = login = self.mail_user = pwd.getpwuid(os.getuid())
        self.internal_user, self.login_user = internal.pw_name, login.pw_name
        self.internal_group = grp.getgrgid(internal.pw_gid).gr_name
        (self.root / "mail").mkdir(mode=0o755)
        os.chown(self.root / "mail", self.mail_user.pw_uid, self.mail_user.pw_gid)

    def config(self) -> str:
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
instance_name = pingback-test-{self.port}
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:~/Maildir
first_valid_uid = 1
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_group}
default_login_user = {self.login_user}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
  # No growing delay after the tests' refused logins (the auth penalty).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.passwd}
}}
userdb {{
  driver = passwd-file
  args = {self.passwd}
}}
"""

    def start(self) -> None:
        # Dovecot re-reads a changed passwd-file only when its mtime (seconds)
        # moves, so every account a session may need is written up front.
        user = self.mail_user
        self.passwd.write_text(
            "".join(
                f"{name}:{{PLAIN}}{self.password(name)}:{user.pw_uid}:{user.pw_gid}"
                f"::{self.root}/mail/{name}\n"
                for name in (f"support{n}" for n in range(1, ACCOUNTS + 1))
            )
        )
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_the_tests,
        )
        wait_for_port(self.port, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def password(name: str) -> str:
        return f"imap-secret-{name}"

    def add_account(self) -> ImapAccount:
        """The next unused account: a fresh, empty mailbox."""
        number = next(self.numbers)
        if number > ACCOUNTS:
            raise RuntimeError(f"the test Dovecot has only {ACCOUNTS} accounts")
        name = f"support{number}"
        return ImapAccount("127.0.0.1", self.port, name, self.password(name))


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if not Path(DOVECOT).exists():
        pytest.fail("Dovecot is not installed (apt-get install dovecot-imapd)")
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mailbox(dovecot: Dovecot) -> ImapAccount:
    """A fresh, empty mailbox on the test Dovecot."""
    return dovecot.add_account()


# ------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """What the SMTP server accepted: the envelope and the message bytes."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records accepted messages; `mail_reply`, `rcpt_reply`
    or `data_reply` (e.g. "550 5.1.1 No such user") refuse instead."""

    received: list[ReceivedMail] = field(default_factory=list)
    mail_reply: str = ""
    rcpt_reply: str = ""
    data_reply: str = ""

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        self.received.append(
            ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
        )
        return "250 2.0.0 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == SMTP_USER
        and auth_data.password.decode() == SMTP_PASSWORD
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def config(self, password: str = SMTP_PASSWORD) -> dict[str, object]:
        return {
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": "none",
            "smtp_username": SMTP_USER,
            "smtp_password": password,
        }


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


# ---------------------------------------------------------------------- channel


@pytest.fixture
def email_channel(
    smtp_server: SmtpServer,
) -> Callable[..., Channel]:
    """Build a ready e-mail channel sending through `smtp_server`; pass
    `imap=<ImapAccount>` to poll it, and config keys (secrets included) to
    override."""

    def build(
        imap: ImapAccount | None = None,
        business=None,
        is_active: bool = True,
        **config: object,
    ) -> Channel:
        public = {
            "address": SUPPORT_ADDRESS,
            "from_name": "Acme Support",
            "inbound_provider": "none",
            "imap_port": 993,
            "imap_security": "ssl",
            "imap_folder": "INBOX",
            **smtp_server.config(),
        }
        secrets = {"smtp_password": public.pop("smtp_password")}
        if imap is not None:
            public.update(imap.config())
            secrets["imap_password"] = imap.password
        for name in ("inbound_webhook_key", "imap_password", "smtp_password"):
            if name in config:
                secrets[name] = config.pop(name)
        public.update(config)
        extra = {"business": business} if business is not None else {}
        return ChannelFactory(
            type="email",
            config=public,
            secrets=secrets,
            is_active=is_active,
            **extra,
        )

    return build

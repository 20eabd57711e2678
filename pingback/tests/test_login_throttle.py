"""Login throttling (django-axes with `billing.login_throttle`): the inbox login
and Django admin's refuse further attempts, the right password included, once
an account or a client IP has failed too often; concurrent attempts never get
more passwords checked than the limit; X-Forwarded-For counts only behind a
configured proxy."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.contrib.auth.backends import ModelBackend
from django.core.management import call_command
from django.db import connection
from django.test import Client, RequestFactory

from billing.client_ip import client_ip
from billing.login_throttle import KEY_PREFIX
from billing.tests.cache_keys import delete_cache_keys
from billing.tests.factories import UserFactory

PASSWORD = "correct horse battery"
INBOX_LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"
LOCKED = "Too many failed log-in attempts"
MISMATCH = {
    INBOX_LOGIN: "Your e-mail and password didn't match.",
    ADMIN_LOGIN: "Please enter the correct username and password",
}


@pytest.fixture(autouse=True)
def _fresh_counters(settings):
    """Counters live in the cache (Redis in CI): start every test from none."""
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 100
    settings.AXES_FAILURE_LIMIT = 3
    delete_cache_keys(f"{KEY_PREFIX}:*")
    yield
    delete_cache_keys(f"{KEY_PREFIX}:*")


def attempt(client: Client, url: str, username: str, password: str, **headers):
    return client.post(
        url,
        {"username": username, "password": password, "next": "/"},
        **headers,
    )


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.django_db
@pytest.mark.parametrize("url", [INBOX_LOGIN, ADMIN_LOGIN], ids=["inbox", "admin"])
def test_wrong_passwords_then_the_right_one_is_refused(url):
    # given: a staff user (so admin would let them in) and a limit of 3
    user = UserFactory(is_staff=True)
    client = Client()

    # when: three wrong passwords, then the right one
    answers = [attempt(client, url, user.username, f"wrong{i}") for i in range(3)]
    final = attempt(client, url, user.username, PASSWORD)

    # then: the first two are ordinary failures; the third locks the account
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert MISMATCH[url] in answers[0].content.decode()
    assert final.status_code == 429
    page = final.content.decode()
    assert (
        "logging in is locked for this account or from your network for 15 minutes"
        in page
    )
    assert not logged_in(client)
    # another address, right password: the account itself is locked
    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert attempt(elsewhere, url, user.username, PASSWORD).status_code == 429
    assert not logged_in(elsewhere)


@pytest.mark.django_db
def test_the_right_password_within_the_limit_logs_in_and_does_not_count():
    # given
    user = UserFactory()
    client = Client()
    attempt(client, INBOX_LOGIN, user.username, "wrong")

    # when: three good logins, then one more typo
    for _ in range(3):
        assert attempt(client, INBOX_LOGIN, user.username, PASSWORD).status_code == 302
        assert logged_in(client)
        client.post("/accounts/logout/")
    typo = attempt(client, INBOX_LOGIN, user.username, "wrong again")

    # then: two failures in all, under the limit of three
    assert typo.status_code == 200
    assert MISMATCH[INBOX_LOGIN] in typo.content.decode()
    assert attempt(client, INBOX_LOGIN, user.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_other_accounts_from_the_same_ip_are_limited_per_ip(settings):
    # given: per-IP limit 3, per-account limit far away
    settings.AXES_FAILURE_LIMIT = 100
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 3
    victims = [UserFactory() for _ in range(3)]
    target = UserFactory()
    attacker = Client(REMOTE_ADDR="203.0.113.7")

    # when: one wrong password on each of three accounts, then a fourth account
    for victim in victims:
        attempt(attacker, INBOX_LOGIN, victim.username, "guess")
    refused = attempt(attacker, INBOX_LOGIN, target.username, PASSWORD)

    # then: that address is locked, for every account; others are not
    assert refused.status_code == 429
    assert LOCKED in refused.content.decode()
    assert not logged_in(attacker)
    colleague = Client(REMOTE_ADDR="203.0.113.8")
    assert attempt(colleague, INBOX_LOGIN, target.username, PASSWORD).status_code == 302


@pytest.mark.django_db
def test_an_operator_lifts_a_lockout_with_axes_reset_username():
    # given: a locked account
    user = UserFactory()
    client = Client()
    for i in range(3):
        attempt(client, INBOX_LOGIN, user.username, f"wrong{i}")
    assert attempt(client, INBOX_LOGIN, user.username, PASSWORD).status_code == 429

    # when
    out = StringIO()
    call_command("axes_reset_username", user.username, stdout=out)

    # then
    assert out.getvalue() == "1 attempts removed.\n"
    assert attempt(client, INBOX_LOGIN, user.username, PASSWORD).status_code == 302
    assert logged_in(client)


class CountingBackend(ModelBackend):
    """Django's password check, counted; slow like a real password hash, so
    concurrent attempts overlap."""

    lock = threading.Lock()
    checks = 0

    def authenticate(self, request, username=None, password=None, **kwargs):
        with CountingBackend.lock:
            CountingBackend.checks += 1
        threading.Event().wait(0.05)
        return super().authenticate(request, username, password, **kwargs)


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_wrong_passwords_get_at_most_the_limit_checked(settings):
    # given: a limit of 3 and a spy on the password check
    settings.AUTHENTICATION_BACKENDS = [
        "axes.backends.AxesStandaloneBackend",
        f"{__name__}.CountingBackend",
    ]
    CountingBackend.checks = 0
    user = UserFactory()
    start = threading.Barrier(10)
    answers: list[tuple[int, str]] = []

    def hammer(i: int) -> None:
        try:
            client = Client()
            start.wait()
            response = attempt(client, INBOX_LOGIN, user.username, f"guess{i}")
            answers.append((response.status_code, response.content.decode()))
        finally:
            connection.close()

    # when: ten threads send a wrong password at the same moment
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then: three passwords were checked; every other attempt was refused
    assert len(answers) == 10
    assert CountingBackend.checks == 3
    locked = [body for status, body in answers if status == 429]
    assert len(locked) >= 7
    assert all(LOCKED in body for body in locked)
    assert all(
        MISMATCH[INBOX_LOGIN] in body for status, body in answers if status == 200
    )
    assert {status for status, _ in answers} <= {200, 429}
    # and the right password is refused too, without being checked
    final = attempt(Client(), INBOX_LOGIN, user.username, PASSWORD)
    assert final.status_code == 429
    assert CountingBackend.checks == 3


@pytest.mark.django_db
def test_spoofed_forwarded_for_does_not_escape_without_a_trusted_proxy(settings):
    # given: no trusted proxy (the default), per-IP limit 3
    settings.TRUSTED_PROXY_COUNT = 0
    settings.AXES_FAILURE_LIMIT = 100
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 3
    target = UserFactory()
    attacker = Client(REMOTE_ADDR="203.0.113.7")

    # when: each attempt claims another address
    for i in range(3):
        attempt(
            attacker,
            INBOX_LOGIN,
            UserFactory().username,
            "guess",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i + 1}",
        )
    refused = attempt(
        attacker,
        INBOX_LOGIN,
        target.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="192.0.2.99",
    )

    # then: counted against the real peer address all along
    assert refused.status_code == 429
    assert not logged_in(attacker)


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_forwarded_client_address_counts(settings):
    # given: one trusted proxy at 127.0.0.1 that appends the client address
    settings.TRUSTED_PROXY_COUNT = 1
    settings.AXES_FAILURE_LIMIT = 100
    settings.LOGIN_FAILURE_LIMIT_PER_IP = 3
    target = UserFactory()
    via_proxy = Client(REMOTE_ADDR="127.0.0.1")

    # when: one client fails three times, inventing the left part of the header
    for i in range(3):
        attempt(
            via_proxy,
            INBOX_LOGIN,
            UserFactory().username,
            "guess",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i + 1}, 203.0.113.5",
        )
    same_client = attempt(
        via_proxy,
        INBOX_LOGIN,
        target.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.5",
    )
    other_client = attempt(
        Client(REMOTE_ADDR="127.0.0.1"),
        INBOX_LOGIN,
        target.username,
        PASSWORD,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )

    # then: that client is locked; another behind the same proxy is not
    assert same_client.status_code == 429
    assert other_client.status_code == 302


@pytest.mark.parametrize(
    ("count", "proxies", "remote", "forwarded", "expected"),
    [
        (0, [], "203.0.113.7", "192.0.2.1", "203.0.113.7"),
        (1, [], "127.0.0.1", "192.0.2.1, 203.0.113.5", "203.0.113.5"),
        (2, [], "127.0.0.1", "192.0.2.1, 203.0.113.5, 10.0.0.2", "203.0.113.5"),
        (2, [], "127.0.0.1", "203.0.113.5", "127.0.0.1"),
        (1, [], "127.0.0.1", "not-an-address", "127.0.0.1"),
        (1, ["127.0.0.0/8"], "127.0.0.1", "203.0.113.5", "203.0.113.5"),
        (1, ["127.0.0.0/8"], "198.51.100.4", "203.0.113.5", "198.51.100.4"),
        (1, [], "127.0.0.1", "", "127.0.0.1"),
    ],
    ids=[
        "no proxy: header ignored",
        "one proxy: right-most",
        "two proxies: second from the right",
        "fewer hops than proxies: peer",
        "garbage: peer",
        "trusted peer",
        "untrusted peer: header ignored",
        "no header: peer",
    ],
)
def test_client_ip(settings, count, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = count
    settings.TRUSTED_PROXIES = proxies
    request = RequestFactory().get(
        "/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
    )

    assert client_ip(request) == expected


@pytest.fixture
def agent_user():
    # Made before Playwright starts: the ORM inside its greenlet would open a
    # connection of its own that outlives the test database.
    return UserFactory()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_a_locked_out_agent_is_told_so_and_for_how_long(
    live_server, agent_user, browser_page, tmp_path
):
    # given: an agent and a limit of 3
    user = agent_user
    page = browser_page

    # when: three wrong passwords in the login form, then the right one
    page.goto(f"{live_server.url}{INBOX_LOGIN}")
    for i in range(3):
        page.fill("input[name=username]", user.username)
        page.fill("input[name=password]", f"wrong{i}")
        page.click("button[type=submit]")
        page.wait_for_load_state()
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.screenshot(path=str(tmp_path / "locked.png"))

    # then: still on the login page, told they are locked out and for how long
    alert = page.locator("p.error[role=alert]")
    assert alert.inner_text() == (
        "Too many failed log-in attempts: logging in is locked for this account "
        "or from your network for 15 minutes. Wait 15 minutes before trying "
        "again; every attempt meanwhile, even with the right password, starts "
        "the wait over."
    )
    assert page.url.startswith(f"{live_server.url}{INBOX_LOGIN}")
    assert page.input_value("input[name=username]") == user.username

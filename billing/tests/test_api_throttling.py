"""API throttling: per token, and per client IP for anonymous calls and refused
tokens; 429 with Retry-After; webhooks are not throttled."""

import pytest
from rest_framework.test import APIClient

from billing.services import api_token_create
from billing.tests.cache_keys import delete_cache_keys
from billing.tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _low_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "3/min", "anon": "3/min"},
    }
    delete_cache_keys("throttle_*")
    yield
    delete_cache_keys("throttle_*")


def bearer(token: str, **defaults) -> APIClient:
    client = APIClient(**defaults)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def assert_throttled(response, *, json: bool = True) -> None:
    assert response.status_code == 429
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit()
    assert 1 <= int(retry_after) <= 60
    if json:
        assert response.json()["detail"].startswith("Request was throttled.")


def test_a_token_over_its_rate_gets_429_and_other_tokens_do_not(agent_member):
    # given: two tokens of the same member, one of a member of another business
    _, busy = api_token_create(member=agent_member, name="busy")
    _, quiet = api_token_create(member=agent_member, name="quiet")
    _, stranger = api_token_create(member=MemberFactory())

    # when
    answers = [bearer(busy).get("/api/v1/conversations/") for _ in range(4)]

    # then
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_throttled(answers[3])
    assert bearer(quiet).get("/api/v1/conversations/").status_code == 200
    assert bearer(stranger).get("/api/v1/conversations/").status_code == 200


def test_refused_tokens_are_throttled_per_client_ip(agent_member):
    # given
    _, good = api_token_create(member=agent_member)
    guesser = bearer("pb_guess", REMOTE_ADDR="203.0.113.7")

    # when
    answers = [guesser.get("/api/v1/channels/") for _ in range(4)]

    # then: three 401s, then 429 for that address only
    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    assert_throttled(answers[3])
    elsewhere = bearer("pb_guess", REMOTE_ADDR="203.0.113.8")
    assert elsewhere.get("/api/v1/channels/").status_code == 401
    # a valid token from the same address counts per token, not per address
    same_address = bearer(good, REMOTE_ADDR="203.0.113.7")
    assert same_address.get("/api/v1/channels/").status_code == 200


def test_spoofed_forwarded_for_does_not_dodge_the_anonymous_rate():
    guesser = bearer("pb_guess", REMOTE_ADDR="203.0.113.7")

    answers = [
        guesser.get("/api/v1/channels/", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
        for i in range(4)
    ]

    assert [a.status_code for a in answers[:3]] == [401, 401, 401]
    assert_throttled(answers[3])


def test_anonymous_calls_are_throttled_per_client_ip():
    client = APIClient(REMOTE_ADDR="203.0.113.7")

    answers = [client.get("/api/schema/") for _ in range(4)]

    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert_throttled(answers[3], json=False)  # the schema's own media type


def test_webhooks_are_not_throttled():
    client = APIClient(REMOTE_ADDR="203.0.113.7")

    answers = [
        client.post(
            "/api/v1/webhooks/telegram/00000000-0000-0000-0000-000000000000",
            {},
            format="json",
        )
        for _ in range(6)
    ]

    assert [a.status_code for a in answers] == [404] * 6

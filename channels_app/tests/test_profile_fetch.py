"""Instagram and X profiles are fetched once, in the background, so a contact
whose name the platform can tell is not an "Unknown contact".

Real parts: the live server takes Meta's signed webhooks from the sandbox's
Instagram stand-in, a real Celery worker ingests them and runs the profile
fetch, which asks the stand-in's Graph API (User Profile API) or, for X, the
sandbox's X API through tweepy.

"Not fetched again" is checked without waiting on a clock: the worker is a
single thread taking tasks in order, so once a fetch queued afterwards (for
another identity) is done, any fetch the second message had queued would be
done too.
"""

from datetime import UTC, datetime
from itertools import count

import pytest
import requests

from billing.services import api_token_create
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from contacts.tasks import fetch_identity_profiles
from conversations.models import Contact, ContactIdentity, Message
from conversations.services.ingest import ingest
from conversations.tests.factories import ContactFactory, ContactIdentityFactory
from pingback.testing import wait_for
from sandbox.platforms.instagram.api import user_profile
from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT, DEMO_CUSTOMER_ID
from sandbox.platforms.x.payloads import DEFAULT_AVATAR_URL, DEMO_CUSTOMER

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

_IDS = count(1)


def ig_control(live, path: str, **body) -> dict:
    response = requests.post(
        f"{live['sandbox'].url}/_sandbox/instagram/{path}", json=body, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def live(live_server, sandbox, settings, celery_worker, admin_member):
    """The running stack and an Instagram channel created through the API and
    subscribed in the Meta dashboard stand-in."""
    settings.PINGBACK_PUBLIC_BASE_URL = live_server.url
    _, token = api_token_create(member=admin_member)
    response = requests.post(
        f"{live_server.url}/api/v1/channels/",
        json={"type": "instagram", "config": DEMO_ACCOUNT.as_config()},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    channel = response.json()
    stack = {"url": live_server.url, "sandbox": sandbox, "channel_id": channel["id"]}
    instructions = channel["config"]["_meta_setup_instructions"]
    ig_control(
        stack,
        "subscribe",
        callback_url=instructions["callback_url"],
        verify_token=instructions["verify_token"],
        app_secret=DEMO_ACCOUNT.app_secret,
    )
    return stack


def profile_requests(sandbox, external_id: str) -> int:
    """How many profile lookups of `external_id` the sandbox answered."""
    return sum(
        record["method"] == "GET" and record["path"].endswith(f"/{external_id}")
        for record in sandbox.requests()
    )


def worker_drained(channel, external_id: str, *, name: str) -> None:
    """Queue a profile fetch of another identity and wait for it: every task
    queued before it has run."""
    contact = ContactFactory(business=channel.business, name="", avatar_url="")
    identity = ContactIdentityFactory(
        contact=contact, channel=channel, external_id=external_id, handle=""
    )
    fetch_identity_profiles.delay([identity.pk])
    wait_for(lambda: Contact.objects.get(pk=contact.pk).name == name)


def test_an_instagram_customer_is_named_from_their_profile_once(live):
    sandbox = live["sandbox"]
    profile = user_profile(DEMO_CUSTOMER_ID)

    # when: the customer writes (Instagram's webhook carries only their id)
    ig_control(live, "customer/message", text="Is the blue kettle in stock?")

    # then: the worker asked the User Profile API, and the contact has the
    # name, picture and username
    identity = wait_for(
        lambda: ContactIdentity.objects.filter(
            external_id=DEMO_CUSTOMER_ID, contact__name=profile["name"]
        ).first()
    )
    assert identity.contact.avatar_url == profile["profile_pic"]
    assert identity.handle == profile["username"]
    assert identity.profile_fetched_at is not None
    assert profile_requests(sandbox, DEMO_CUSTOMER_ID) == 1
    lookup = next(
        r for r in sandbox.requests() if r["path"].endswith(f"/{DEMO_CUSTOMER_ID}")
    )
    assert set(lookup["query"]["fields"].split(",")) == {
        "name",
        "username",
        "profile_pic",
    }

    # when: they write again
    ig_control(live, "customer/message", text="Hello?")
    wait_for(lambda: Message.objects.filter(text="Hello?").exists())
    other = "71000000000001" + f"{next(_IDS):02}"
    sandbox.instagram.state.add_customer(DEMO_ACCOUNT.page_id, other)
    worker_drained(identity.channel, other, name=user_profile(other)["name"])

    # then: the profile was not asked for again
    assert profile_requests(sandbox, DEMO_CUSTOMER_ID) == 1


def test_a_failed_instagram_fetch_is_recorded_and_not_retried(live):
    sandbox = live["sandbox"]
    # given: Meta fails the next call
    response = requests.post(
        f"{sandbox.url}/_sandbox/instagram/mode",
        json={"server_error_next": 1},
        timeout=10,
    )
    assert response.status_code == 200, response.text

    # when: the customer writes, twice
    ig_control(live, "customer/message", text="First")
    identity = wait_for(
        lambda: ContactIdentity.objects.filter(
            external_id=DEMO_CUSTOMER_ID, profile_fetched_at__isnull=False
        ).first()
    )
    wait_for(lambda: profile_requests(sandbox, DEMO_CUSTOMER_ID) == 1)
    ig_control(live, "customer/message", text="Second")
    wait_for(lambda: Message.objects.filter(text="Second").exists())
    other = "71000000000002" + f"{next(_IDS):02}"
    sandbox.instagram.state.add_customer(DEMO_ACCOUNT.page_id, other)
    worker_drained(identity.channel, other, name=user_profile(other)["name"])

    # then: one try, recorded; the contact keeps what it had
    assert profile_requests(sandbox, DEMO_CUSTOMER_ID) == 1
    identity.refresh_from_db()
    assert identity.profile_fetched_at is not None
    assert identity.contact.name == ""


# --------------------------------------------------------------------------- X


def x_dm(user_id: str, text: str, contact: InboundContact | None = None):
    return InboundMessage(
        platform_message_id=f"{next(_IDS)}{user_id[-6:]}",
        contact=contact or InboundContact(external_id=user_id),
        text=text,
        sent_at=datetime.now(UTC),
        thread_key=f"dm:{user_id}",
        kind="dm",
    )


@pytest.fixture
def x_channel(sandbox, celery_worker, business):
    return ChannelFactory(business=business)


def test_an_x_user_without_a_profile_in_the_event_is_looked_up_once(sandbox, x_channel):
    # when: a DM arrives whose event carried no user object
    ingest(channel=x_channel, items=[x_dm(DEMO_CUSTOMER.id, "Hi")])

    # then: the worker looked the user up through tweepy
    contact = wait_for(lambda: Contact.objects.filter(name=DEMO_CUSTOMER.name).first())
    assert contact.avatar_url == DEFAULT_AVATAR_URL
    identity = contact.identities.get()
    assert identity.handle == DEMO_CUSTOMER.screen_name
    lookups = [
        r for r in sandbox.requests() if r["path"] == f"/2/users/{DEMO_CUSTOMER.id}"
    ]
    assert len(lookups) == 1
    assert "profile_image_url" in lookups[0]["query"]["user.fields"]

    # when: they write again
    ingest(channel=x_channel, items=[x_dm(DEMO_CUSTOMER.id, "Still there?")])
    worker_drained(x_channel, x_channel.config["account_id"], name="PingBack Demo")

    # then
    assert profile_requests(sandbox, DEMO_CUSTOMER.id) == 1


def test_an_x_user_whose_event_gave_the_profile_is_not_looked_up(sandbox, x_channel):
    # when
    known = InboundContact(
        external_id=DEMO_CUSTOMER.id,
        handle="casey_customer",
        name="Casey C.",
        avatar_url=DEFAULT_AVATAR_URL,
    )
    ingest(channel=x_channel, items=[x_dm(DEMO_CUSTOMER.id, "Hi", known)])
    worker_drained(x_channel, x_channel.config["account_id"], name="PingBack Demo")

    # then
    assert profile_requests(sandbox, DEMO_CUSTOMER.id) == 0
    assert Contact.objects.get(identities__external_id=DEMO_CUSTOMER.id).name == (
        "Casey C."
    )


def test_an_unknown_x_user_is_recorded_as_tried_and_shown_by_id(sandbox, x_channel):
    # when: X does not know the user (deleted, suspended)
    ingest(channel=x_channel, items=[x_dm("2299999999999999999", "Hi")])

    # then: asked once (the claim is recorded before the call)
    wait_for(lambda: profile_requests(sandbox, "2299999999999999999") == 1)
    identity = ContactIdentity.objects.get(external_id="2299999999999999999")
    assert identity.profile_fetched_at is not None
    assert identity.contact.name == ""

    # when: the task runs again (a redelivery)
    result = fetch_identity_profiles.apply(args=[[identity.pk]]).get()

    # then: it does nothing
    assert result == {"fetched": 0, "failed": 0, "skipped": 1}
    assert profile_requests(sandbox, "2299999999999999999") == 1

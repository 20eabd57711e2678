"""Instagram messaging webhooks (Meta) and sends through the Graph API, for the
sandbox stand-in's demo Page and account."""

import json

from channels_app.platforms.base import (
    OutboundAttachment,
    PermanentDeliveryError,
)
from channels_app.tests.platforms.contract.kits import meta
from channels_app.tests.platforms.contract.kits.base import (
    Kit,
    SendErrorCase,
    Sending,
    Setup,
    transient_refusals,
)
from channels_app.tests.platforms.fixtures import compact_json
from sandbox.platforms.instagram.payloads import (
    DEMO_ACCOUNT,
    DEMO_CUSTOMER_ID,
    demo_png,
    message_event,
    webhook_payload,
)

VERIFY_TOKEN = "verify-token-generated-by-setup-0001"


def channel() -> dict:
    return {
        "type": "instagram",
        "secrets": {
            "access_token": DEMO_ACCOUNT.access_token,
            "app_secret": DEMO_ACCOUNT.app_secret,
            "verify_token": VERIFY_TOKEN,
        },
        "config": {
            "page_id": DEMO_ACCOUNT.page_id,
            "instagram_account_id": DEMO_ACCOUNT.instagram_id,
            "instagram_username": DEMO_ACCOUNT.username,
            "page_name": DEMO_ACCOUNT.page_name,
        },
        "setup_state": "action_required",
    }


def image(**overrides) -> OutboundAttachment:
    """The demo PNG as an agent's attachment (`public_url` unused unless given)."""
    fields = {
        "kind": "image",
        "filename": "kettle.png",
        "content_type": "image/png",
        "size": len(demo_png()),
        "storage_name": "attachments/x/kettle.png",
        "public_url": "http://unused",
        **overrides,
    }
    return OutboundAttachment(**fields)


def page_subscribed(sandbox, created: dict | None) -> bool:
    """Whether a Page is subscribed to webhooks (the demo Page, to
    `messages`, when `created` is given)."""
    subscriptions = sandbox.instagram.snapshot()["page_subscriptions"]
    if created is None:
        return bool(subscriptions)
    return subscriptions == {DEMO_ACCOUNT.page_id: ["messages"]}


TIMESTAMP_AS_STRING = webhook_payload(
    DEMO_ACCOUNT,
    [
        {
            **message_event(
                sender_id=DEMO_CUSTOMER_ID,
                recipient_id=DEMO_ACCOUNT.instagram_id,
                mid="m1",
                text="hi",
            ),
            "timestamp": "1763712000104",
        }
    ],
)

# Setups Meta refuses: (config, the field named, Meta's words).
REFUSED_SETUPS = {
    "token Meta refuses": (
        {
            "access_token": "EAAG-expired-token",
            "page_id": DEMO_ACCOUNT.page_id,
            "app_secret": DEMO_ACCOUNT.app_secret,
        },
        "access_token",
        "Invalid OAuth access token - Cannot parse access token",
    ),
    "page the token cannot see": (
        {
            "access_token": DEMO_ACCOUNT.access_token,
            "page_id": "123456789",
            "app_secret": DEMO_ACCOUNT.app_secret,
        },
        "page_id",
        "Unsupported get request. Object with ID '123456789' does not "
        "exist, cannot be loaded due to missing permissions, or does not "
        "support this operation.",
    ),
    "no app secret": (
        {
            "access_token": DEMO_ACCOUNT.access_token,
            "page_id": DEMO_ACCOUNT.page_id,
        },
        "app_secret",
        "This field is required.",
    ),
}


KIT = Kit(
    platform="instagram",
    channel=channel,
    load=compact_json,
    malformed={
        "not JSON": meta.NOT_JSON,
        "no object": (b'{"entry": []}', "object: missing"),
        "no entries": (b'{"object": "instagram", "entry": []}', "entry: no events"),
        "timestamp as a string": (
            json.dumps(TIMESTAMP_AS_STRING).encode(),
            "entry[0].messaging[0].timestamp: expected an integer, got a string",
        ),
    },
    signer=meta.signer,
    secret="app_secret",
    forged=meta.FORGED,
    handshake=meta.HANDSHAKE,
    vectors=(meta.VECTOR,),
    setup=Setup(
        config=DEMO_ACCOUNT.as_config,
        state="action_required",
        registered=page_subscribed,
        refused=REFUSED_SETUPS,
        unreachable=(
            meta.UNREACHABLE,
            "failed",
            "Could not check the Page with Meta (Could not reach the Graph API",
        ),
        secret_missing=meta.APP_SECRET_MISSING
        + "Connected to Instagram @pingback_demo",
    ),
    sending=Sending.watching(
        "instagram",
        "sends",
        ("message_id", "text"),
        errors={
            "window closed": SendErrorCase(
                {"window": "closed"},
                PermanentDeliveryError,
                "Instagram accepts replies only within 24 hours of the customer's "
                "last message (7 days for a human agent when the Meta app has the "
                "Human Agent permission); this conversation is outside that window, "
                "so nothing was sent. Meta said: (#10) This message is sent outside "
                "of allowed window.",
            ),
            **transient_refusals(
                "(#613) Calls to this api have exceeded the rate limit.",
                "An unexpected error has occurred. Please retry your request later.",
            ),
            "unknown recipient": SendErrorCase(
                {},
                PermanentDeliveryError,
                "(#100) No matching user found",
                message={"recipient_external_id": "7199999999999999"},
            ),
            "document": SendErrorCase(
                {},
                PermanentDeliveryError,
                "Instagram messages cannot carry documents (invoice.pdf); send "
                "images, video or audio.",
                message={
                    "text": "see attached",
                    "attachments": (
                        image(
                            kind="document",
                            filename="invoice.pdf",
                            content_type="application/pdf",
                        ),
                    ),
                },
            ),
            "webp image": SendErrorCase(
                {},
                PermanentDeliveryError,
                "Instagram takes PNG, JPEG or GIF images; kettle.png is image/webp.",
                message={
                    "text": "",
                    "attachments": (image(content_type="image/webp"),),
                },
            ),
            "too long": SendErrorCase(
                {},
                PermanentDeliveryError,
                "Instagram messages are limited to 1,000 characters; this one has "
                "1,001.",
                message={"text": "x" * 1001},
            ),
        },
    ),
)

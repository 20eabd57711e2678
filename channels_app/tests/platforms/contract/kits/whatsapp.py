"""WhatsApp Cloud API webhooks (Meta), for the documented example number the
fixtures are addressed to."""

import requests

from channels_app.platforms.base import PermanentDeliveryError
from channels_app.platforms.whatsapp import WINDOW_CLOSED
from channels_app.tests.platforms.contract.kits import base, meta
from channels_app.tests.platforms.fixtures import compact_json
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER

PHONE_NUMBER_ID = "106540352242922"
VERIFY_TOKEN = "chosen-verify-token-1234"


def without(config: dict, name: str) -> dict:
    return {key: value for key, value in config.items() if key != name}


CUSTOMER = "16505551234"


def stand_in(sandbox, modes: dict) -> None:
    """The customer wrote `window_hours_ago` hours ago (default 1: the
    customer service window is open), and the stand-in's other modes."""
    control = f"{sandbox.url}/_sandbox/whatsapp"
    hours = modes.get("window_hours_ago", 1)
    window = {"wa_id": CUSTOMER, "hours_ago": hours}
    requests.post(
        f"{control}/customer/window", json=window, timeout=5
    ).raise_for_status()
    other = {k: v for k, v in modes.items() if k != "window_hours_ago"}
    requests.post(f"{control}/mode", json=other, timeout=5).raise_for_status()


KIT = base.Kit(
    platform="whatsapp",
    channel=lambda: {
        "type": "whatsapp",
        "secrets": {
            "access_token": "EAAG-example-token",
            "verify_token": VERIFY_TOKEN,
            "app_secret": "app-secret-example",
        },
        "config": {
            "phone_number_id": PHONE_NUMBER_ID,
            "display_phone_number": "+1 555-078-3881",
            "verified_name": "Lucky Shrub",
        },
        "setup_state": "action_required",
    },
    load=compact_json,
    malformed={
        "not JSON": meta.NOT_JSON,
        "phone number id of the wrong type": (
            b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field":'
            b' "messages", "value": {"metadata": {"phone_number_id": 1065}}}]}]}',
            "entry[0].changes[0].value.metadata.phone_number_id: expected a string, "
            "got an integer",
        ),
        "no entry": (b'{"object": "whatsapp_business_account"}', "entry: missing"),
    },
    signer=meta.signer,
    secret="app_secret",
    forged={
        **meta.FORGED,
        "legacy sha1 only": {base.header("X-Hub-Signature"): "sha1=" + "0" * 40},
    },
    handshake=meta.HANDSHAKE,
    vectors=(meta.VECTOR,),
    setup=base.Setup(
        config=lambda: DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN),
        state="action_required",
        refused={
            "token Meta does not know": (
                {
                    **DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN),
                    "access_token": "EAAexpired",
                },
                "access_token",
                "Invalid OAuth access token - Cannot parse access token",
            ),
            "no app secret": (
                without(DEMO_NUMBER.as_config(verify_token=VERIFY_TOKEN), "app_secret"),
                "app_secret",
                "This field is required.",
            ),
        },
        unreachable=(
            meta.UNREACHABLE,
            "failed",
            "Could not check the number with the Graph API (Could not reach the "
            "Graph API: ConnectError). Run setup again once it is reachable.",
        ),
        secret_missing=meta.APP_SECRET_MISSING + "Connected to PingBack Demo",
    ),
    sending=base.Sending(
        sends=lambda sandbox: sandbox.whatsapp.snapshot()["sends"],
        sent=("wamid", "text"),
        set_modes=stand_in,
        channel=lambda: {
            "config": {"phone_number_id": DEMO_NUMBER.phone_number_id},
            "secrets": {
                "access_token": DEMO_NUMBER.access_token,
                "verify_token": VERIFY_TOKEN,
                "app_secret": DEMO_NUMBER.app_secret,
            },
        },
        errors={
            **base.transient_refusals(
                "(#130429) Rate limit hit: Cloud API message throughput has been "
                "reached.",
                "(#131000) Something went wrong: Something went wrong.",
                {"status_code": 429, "rate_limited": True},
                {"status_code": 500, "rate_limited": False},
            ),
            "window closed": base.SendErrorCase(
                {"window_hours_ago": 25},
                PermanentDeliveryError,
                "(#131047) Re-engagement message: Message failed to send because "
                "more than 24 hours have passed since the customer last replied to "
                f"this number. {WINDOW_CLOSED}",
                fields={"status_code": 400},
            ),
        },
    ),
)

"""WhatsApp Cloud API webhooks (Meta), for the documented example number the
fixtures are addressed to."""

from channels_app.tests.platforms.contract.kits import meta
from channels_app.tests.platforms.contract.kits.base import Kit, Setup, header
from channels_app.tests.platforms.fixtures import compact_json
from sandbox.whatsapp_payloads import DEMO_NUMBER

PHONE_NUMBER_ID = "106540352242922"
VERIFY_TOKEN = "chosen-verify-token-1234"


def without(config: dict, name: str) -> dict:
    return {key: value for key, value in config.items() if key != name}


KIT = Kit(
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
        "legacy sha1 only": {header("X-Hub-Signature"): "sha1=" + "0" * 40},
    },
    handshake=meta.HANDSHAKE,
    vectors=(meta.VECTOR,),
    setup=Setup(
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
)

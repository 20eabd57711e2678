"""What WhatsApp and Instagram share: Meta's webhooks (hub.challenge handshake,
X-Hub-Signature-256 with the app secret). Source: Meta Graph API, Webhooks >
Getting started (verification requests, event notifications)."""

from channels_app.tests.platforms.contract.kits.base import Handshake, header
from sandbox.platforms import meta as meta_signer

SIGNATURE = header("X-Hub-Signature-256")
NOT_JSON = (
    b"{not json",
    "body is not JSON: Expecting property name enclosed in double quotes: "
    "line 1 column 2 (char 1)",
)


def signer(channel, body: bytes, secret: str) -> dict[str, str]:
    return {SIGNATURE: meta_signer.sign(secret, body)}


def challenge(channel, **changes) -> dict[str, str]:
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": channel.secrets["verify_token"],
        "hub.challenge": "1158201444",
        **changes,
    }
    return {key: value for key, value in query.items() if value is not None}


HANDSHAKE = Handshake(
    query=challenge,
    answer=lambda channel: ("text/plain", b"1158201444"),
    secret="verify_token",
    refused={
        "wrong token": lambda channel: challenge(
            channel, **{"hub.verify_token": "guess"}
        ),
        "no token": lambda channel: challenge(channel, **{"hub.verify_token": None}),
    },
)
FORGED = {"forged": {SIGNATURE: "sha256=" + "0" * 64}}
VECTOR = (
    meta_signer.sign,
    ("app-secret-example", b'{"object":"whatsapp_business_account","entry":[]}'),
    "sha256=6c957c4f986b25135337b7da0baf9a0341f32c395dec049e0fe15c294df2842b",
)

APP_SECRET_MISSING = (
    "PingBack refuses every webhook for this channel (403) until you add "
    "app_secret: Meta app dashboard → App settings → Basic → App secret, then "
    'PATCH the channel with {"config": {"app_secret": "<the app secret>"}}. '
)
UNREACHABLE = "GRAPH_API_BASE_URL"

"""Telegram: updates posted to the webhook PingBack set with a per-channel
secret token, sent back in a header (Bot API, setWebhook `secret_token`)."""

from channels_app.tests.platforms.contract.kits.base import Kit, Setup, header
from channels_app.tests.platforms.fixtures import compact_json
from sandbox.platforms.telegram.standin import DEMO_BOT

SECRET = "s3cret-token_for-the-webhook-0123456789abcdef"
TOKEN_HEADER = header("X-Telegram-Bot-Api-Secret-Token")


def webhook_set(sandbox, created: dict | None) -> bool:
    """Whether the demo bot's webhook is set to the created channel's URL, or
    with `created` None whether any bot has a webhook."""
    if created is None:
        return sandbox.telegram.snapshot()["webhooks"] != []
    webhook = sandbox.telegram.webhook()
    return webhook is not None and webhook["url"] == created["webhook_url"]


KIT = Kit(
    platform="telegram",
    channel=lambda: {
        "type": "telegram",
        "secrets": {"bot_token": DEMO_BOT.token, "webhook_secret": SECRET},
        "config": {"bot_id": "7000000001", "bot_username": DEMO_BOT.username},
    },
    load=compact_json,
    malformed={
        "not JSON": (
            b"update_id=1",
            "body is not JSON: Expecting value: line 1 column 1 (char 0)",
        ),
        "no update_id": (b'{"message": {}}', "update_id: missing"),
        "update without content": (
            b'{"update_id": 5}',
            "body: no update besides update_id",
        ),
    },
    signer=lambda channel, body, secret: {TOKEN_HEADER: secret},
    secret="webhook_secret",
    forged={
        "forged": {TOKEN_HEADER: "guessed-secret-token"},
        "one character off": {TOKEN_HEADER: SECRET[:-1] + "X"},
    },
    setup=Setup(
        config=lambda: {"bot_token": DEMO_BOT.token},
        state="ready",
        registered=webhook_set,
        refused={
            "a token Telegram does not know": (
                {"bot_token": "7000000099:AAnot-a-real-bot-token"},
                "bot_token",
                "Telegram refused the token: Unauthorized",
            )
        },
        unreachable=(
            "TELEGRAM_API_BASE_URL",
            "failed",
            "Checking the bot token failed: Telegram could not be reached (",
        ),
    ),
)

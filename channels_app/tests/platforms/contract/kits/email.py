"""E-mail: raw messages (RFC 5322) as IMAP fetches them, parsed by the platform.
Mail providers' webhooks (Mailgun, Postmark) deliver through their own views
(`channels_app/tests/email/test_webhooks.py`), so the JSON provider payloads
beside the `.eml` fixtures are not parse input and have no expectation."""

from channels_app.tests.platforms.contract.kits.base import Kit

KIT = Kit(
    platform="email",
    channel=lambda: {"type": "email", "config": {"address": "support@acme.test"}},
    suffix=".eml",
    malformed={
        "empty": (b"  \r\n", "body: empty"),
        "JSON": (
            b'{"from": "casey@customer.test"}',
            "From: missing (the body is not an e-mail message)",
        ),
        "From without address": (b"From: Casey\r\n\r\nhello", "From: no address"),
    },
)

"""What every stand-in does alike, over real HTTP: its modes (checked,
reset), its state and control endpoints, and (for the Graph API stand-ins)
the business account answering the fields asked for.

Each test runs once per platform; what differs is in the parameters.
"""

from __future__ import annotations

import pytest

from sandbox.platforms.instagram.payloads import DEMO_ACCOUNT
from sandbox.platforms.telegram.standin import DEMO_BOT
from sandbox.platforms.whatsapp.payloads import DEMO_NUMBER
from sandbox.server import SandboxServer
from sandbox.tests import kit
from sandbox.tests.kit import control

PLATFORMS = ("x", "telegram", "whatsapp", "instagram", "sms")


@pytest.mark.parametrize(
    ("platform", "mistyped", "error"),
    [
        ("x", {"crc_check": "no"}, "crc_check must be true or false"),
        ("telegram", {"flood_next": -1}, "flood_next must be a non-negative integer"),
        (
            "whatsapp",
            {"window_errors": "later"},
            "window_errors must be response or status",
        ),
        (
            "instagram",
            {"window": "ajar"},
            "window must be one of ('open', 'human_agent', 'closed')",
        ),
        ("sms", {"undelivered": 1}, "undelivered must be true or false"),
    ],
)
def test_unknown_or_mistyped_modes_are_400_and_change_nothing(
    sandbox: SandboxServer, platform: str, mistyped: dict, error: str
) -> None:
    path = f"/_sandbox/{platform}/mode"
    before = control(sandbox, "GET", path).json()

    unknown = control(sandbox, "POST", path, json={"nonsense": 1, **mistyped})
    wrong = control(sandbox, "POST", path, json=mistyped)

    assert unknown.status_code == wrong.status_code == 400
    assert unknown.json()["error"].startswith("unknown mode 'nonsense'; known: [")
    assert wrong.json() == {"error": error}
    assert control(sandbox, "GET", path).json() == before


@pytest.mark.parametrize(
    ("platform", "counter"),
    [
        ("x", "server_error_next"),
        ("telegram", "flood_next"),
        ("whatsapp", "rate_limit_next"),
        ("instagram", "rate_limit_next"),
        ("sms", "server_error_next"),
    ],
)
def test_modes_are_set_and_shown_until_a_reset(
    sandbox: SandboxServer, platform: str, counter: str
) -> None:
    path = f"/_sandbox/{platform}/mode"

    answer = control(sandbox, "POST", path, json={counter: 3})
    shown = control(sandbox, "GET", f"/_sandbox/{platform}/state").json()["modes"]
    control(sandbox, "POST", "/_sandbox/reset")

    assert answer.status_code == 200
    assert answer.json()[counter] == shown[counter] == 3
    assert control(sandbox, "GET", path).json()[counter] == 0


@pytest.mark.parametrize("platform", PLATFORMS)
def test_unknown_control_paths_are_404_naming_them(
    sandbox: SandboxServer, platform: str
) -> None:
    path = f"/_sandbox/{platform}/no/such/thing"

    answer = control(sandbox, "POST", path, json={})

    assert answer.status_code == 404
    assert answer.json() == {"error": f"no sandbox endpoint POST {path}"}


@pytest.mark.parametrize(
    ("token", "node", "fields", "expected"),
    [
        (
            DEMO_NUMBER.access_token,
            DEMO_NUMBER.phone_number_id,
            "display_phone_number,verified_name",
            {
                "display_phone_number": DEMO_NUMBER.display_phone_number,
                "verified_name": DEMO_NUMBER.verified_name,
                "id": DEMO_NUMBER.phone_number_id,
            },
        ),
        *[
            (
                DEMO_ACCOUNT.access_token,
                node,
                "name,instagram_business_account{id,username}",
                {
                    "id": DEMO_ACCOUNT.page_id,
                    "name": DEMO_ACCOUNT.page_name,
                    "instagram_business_account": {
                        "id": DEMO_ACCOUNT.instagram_id,
                        "username": DEMO_ACCOUNT.username,
                    },
                },
            )
            for node in (DEMO_ACCOUNT.page_id, "me")
        ],
    ],
    ids=["whatsapp number", "instagram page", "instagram me"],
)
def test_a_graph_account_answers_the_fields_asked_for(
    sandbox: SandboxServer, token: str, node: str, fields: str, expected: dict
) -> None:
    response = kit.graph(sandbox, "GET", node, token, params={"fields": fields})

    assert response.status_code == 200
    assert response.json() == expected


def test_the_demo_page_has_a_section_per_platform(sandbox: SandboxServer) -> None:
    page = control(sandbox, "GET", "/")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    for action in (
        "/_sandbox/x/ui/dm",
        "/_sandbox/telegram/ui/message",
        "/_sandbox/whatsapp/ui/message",
        "/_sandbox/instagram/ui/message",
        "/_sandbox/sms/ui/message",
    ):
        assert f'action="{action}"' in page.text


def test_the_request_log_numbers_api_calls_of_every_platform(
    sandbox: SandboxServer,
) -> None:
    telegram = control(sandbox, "GET", f"/bot{DEMO_BOT.token}/getMe")
    x = control(
        sandbox, "GET", "/2/users/me", headers={"Authorization": "Bearer not-a-token"}
    )

    logged = control(sandbox, "GET", "/_sandbox/requests").json()["requests"]
    after_first = control(
        sandbox, "GET", f"/_sandbox/requests?since={logged[0]['seq']}"
    ).json()["requests"]
    bad_since = control(sandbox, "GET", "/_sandbox/requests?since=soon")

    assert (telegram.status_code, x.status_code) == (200, 401)
    assert [(r["platform"], r["path"], r["status"]) for r in logged] == [
        ("telegram", f"/bot{DEMO_BOT.token.split(':')[0]}:***/getMe", 200),
        ("x", "/2/users/me", 401),
    ]
    assert logged[1]["headers"]["authorization"] == "Bearer"
    assert after_first == logged[1:]
    assert bad_since.status_code == 400
    assert bad_since.json() == {"error": "since must be an integer"}

"""Create (or refresh) the demo business: an admin login, two agents in a
"Support" team, labels and canned responses, and one channel of each
platform kind wired to the sandbox (and a second X channel, in polling mode,
on a second sandbox account). Run while PingBack and the sandbox are both
serving, so setup (webhook registration, with its CRC or handshake against
PingBack) goes through.

Each platform's sandbox module (`sandbox/<type>.py`) may define:
    demo_channel_config(sandbox_url: str) -> dict
        the channel config of its demo account;
    demo_after_setup(sandbox_url: str, channel: Channel, config: dict) -> str
        what the admin would do by hand on the platform's side after creating
        the channel (e.g. paste the callback URL in Meta's dashboard), done
        through the sandbox's control API; `config` is the config as the create
        call answers it (setup values in clear). Returns a line for the output.
"""

import importlib
import os
from urllib.parse import urlencode, urlsplit

import requests
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from billing.models import Business, Member
from billing.services import api_token_create, business_create
from channels_app.models import Channel
from channels_app.services import (
    channel_config_clean,
    channel_create,
    channel_public_config,
    channel_setup,
    channel_update,
)
from sandbox.platforms.x.payloads import DEMO_APP, DEMO_POLLING_APP, XApp
from workspace.models import CannedResponse, Label, Team
from workspace.services import (
    canned_response_create,
    label_create,
    team_create,
    team_update,
)

DEMO_BUSINESS = "Demo Support"
DEMO_EMAIL = "admin@demo.pingback.test"
DEMO_PLATFORMS = ("telegram", "whatsapp", "instagram", "sms")
# The demo's agents (login, first name, last name), besides the admin.
DEMO_AGENTS = (
    ("agent1@demo.pingback.test", "Ana", "Silva"),
    ("agent2@demo.pingback.test", "Ben", "Okafor"),
)
DEMO_LABELS = (
    ("billing", "#2563eb", "Invoices, refunds and payments."),
    ("vip", "#d97706", "Customers on a premium contract."),
    ("bug", "#dc2626", "Something in the product does not work."),
)
DEMO_CANNED_RESPONSES = (
    (
        "hello",
        "Hi {{contact.name}}, this is {{agent.name}} from Demo Support. "
        "How can I help?",
    ),
    (
        "followup",
        "Thanks {{contact.name}}, we are looking into it. Your reference is "
        "#{{conversation.id}}.",
    ),
)
# Reads of each X stream the sandbox answers per 15-minute window in the demo.
DEMO_X_READ_LIMIT = 900
# The demo host page for the web widget (served by bin/run).
DEMO_WIDGET_PAGE = "http://localhost:8766"


class Command(BaseCommand):
    help = "Create or refresh the demo business, its people and its channels."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default="pingback-demo")
        parser.add_argument(
            "--sandbox-url",
            default=None,
            help="The sandbox's URL (default: X_API_BASE_URL).",
        )

    def handle(self, *args, password: str, sandbox_url: str | None, **options) -> None:
        from django.conf import settings

        sandbox_url = (sandbox_url or settings.X_API_BASE_URL).rstrip("/")
        business = Business.objects.filter(name=DEMO_BUSINESS).first()
        if business is None:
            created = business_create(
                name=DEMO_BUSINESS,
                plan="pro",
                admin_email=DEMO_EMAIL,
                admin_password=password,
            )
            business, token = created.business, created.token
        else:
            admin = get_user_model().objects.get(username=DEMO_EMAIL)
            admin.set_password(password)
            admin.save(update_fields=["password"])
            _, token = api_token_create(member=admin.member, name="demo")
        self._demo_x(business, DEMO_APP, delivery="webhook")
        self._demo_x(business, DEMO_POLLING_APP, delivery="polling")
        self._demo_x_read_limit(sandbox_url)
        for channel_type in DEMO_PLATFORMS:
            self._demo_channel(business, channel_type, sandbox_url)
        self._demo_widget(business)
        agents = self._demo_agents(business, password)
        self._demo_workspace(business, agents)
        self.stdout.write(f"Login: {DEMO_EMAIL} / {password}")
        for agent in agents:
            self.stdout.write(f"Agent login: {agent.user.username} / {password}")
        self.stdout.write(f"API token: {token}")

    def _demo_x(self, business, app: XApp, delivery: str) -> None:
        """The demo's X channel of `app`'s account: `delivery` "webhook" (the
        sandbox posts what customers write) or "polling" (PingBack reads it
        every X_POLL_INTERVAL seconds: `bin/run` runs Celery beat)."""
        channels = Channel.objects.filter(business=business, type="x")
        if delivery == "polling":
            channel = channels.filter(config__delivery="polling").first()
        else:
            channel = channels.exclude(config__delivery="polling").first()
        if channel is None:
            config = {**app.as_config(), "delivery": delivery}
            config = channel_config_clean(channel_type="x", config=config)
            channel = channel_create(business=business, channel_type="x", config=config)
        else:
            channel = channel_setup(channel=channel)
        self.stdout.write(
            f"X channel {channel} ({delivery}): {channel.get_setup_state_display()}."
        )
        self.stdout.write(f"  {channel.setup_message}")

    def _demo_x_read_limit(self, sandbox_url: str) -> None:
        """Let the sandbox's X answer a read of each stream every second
        (X: 15 per 15 minutes), so the demo may poll every few seconds
        (`bin/run` sets X_POLL_INTERVAL to 15) without being paused."""
        answer = requests.post(
            f"{sandbox_url}/_sandbox/x/mode",
            json={"read_limit": DEMO_X_READ_LIMIT},
            timeout=10,
        )
        answer.raise_for_status()

    def _demo_channel(self, business, channel_type: str, sandbox_url: str) -> None:
        module = importlib.import_module(f"sandbox.platforms.{channel_type}.standin")
        config_of = getattr(module, "demo_channel_config", None)
        if config_of is None:
            return
        channel = Channel.objects.filter(business=business, type=channel_type).first()
        if channel is None:
            config = channel_config_clean(
                channel_type=channel_type, config=config_of(sandbox_url)
            )
            channel = channel_create(
                business=business, channel_type=channel_type, config=config
            )
        else:
            channel = channel_setup(channel=channel)
        label = channel.get_type_display()
        after_setup = getattr(module, "demo_after_setup", None)
        if after_setup is not None:
            shown = channel_public_config(channel, reveal=True)
            self.stdout.write(f"{label}: {after_setup(sandbox_url, channel, shown)}")
        channel.refresh_from_db()
        self.stdout.write(
            f"{label} channel {channel}: {channel.get_setup_state_display()}."
        )
        self.stdout.write(f"  {channel.setup_message}")

    def _demo_widget(self, business) -> None:
        """The demo web widget, allowed on the demo host page (a stand-in for a
        customer's site on another origin: `static/widget/demo/`, which
        `bin/run` serves at PINGBACK_WIDGET_DEMO_URL)."""
        from django.conf import settings

        demo_url = os.environ.get("PINGBACK_WIDGET_DEMO_URL", DEMO_WIDGET_PAGE)
        port = urlsplit(demo_url).port or 80
        config = {
            "allowed_domains": [f"localhost:{port}", f"127.0.0.1:{port}"],
            "welcome_message": "Hi! This is the PingBack demo widget. Write "
            "something, then answer from the inbox.",
        }
        channel = Channel.objects.filter(business=business, type="webchat").first()
        clean = channel_config_clean(
            channel_type="webchat", config=config, current=channel
        )
        if channel is None:
            channel = channel_create(
                business=business, channel_type="webchat", config=clean
            )
        else:
            channel = channel_update(channel=channel, config=clean, is_active=True)
            # Setup (no outside call for the widget) names a widget created
            # before channels had names.
            channel = channel_setup(channel=channel)
        query = urlencode(
            {"channel": channel.id, "pingback": settings.PINGBACK_PUBLIC_BASE_URL}
        )
        self.stdout.write(
            f"Web widget channel {channel}: {channel.get_setup_state_display()}."
        )
        self.stdout.write(
            f"  Chat as a website visitor: {demo_url.rstrip('/')}/?{query}"
        )

    def _demo_agents(self, business, password: str) -> list[Member]:
        """The demo's two agents (created, or their password reset)."""
        agents = []
        for email, first_name, last_name in DEMO_AGENTS:
            user, _ = get_user_model().objects.get_or_create(
                username=email,
                defaults={
                    "email": email,
                    "first_name": first_name,
                    "last_name": last_name,
                },
            )
            user.set_password(password)
            user.save(update_fields=["password"])
            member, _ = Member.objects.update_or_create(
                user=user,
                defaults={"business": business, "role": Member.Role.AGENT},
            )
            agents.append(member)
        return agents

    def _demo_workspace(self, business, agents: list[Member]) -> None:
        """A "Support" team of both agents, a few labels and canned responses
        using the variables (each created once; the team's members reset)."""
        user_ids = [agent.user_id for agent in agents]
        team = Team.objects.filter(business=business, name="Support").first()
        if team is None:
            team_create(
                business=business,
                name="Support",
                description="First line: every new conversation.",
                member_user_ids=user_ids,
            )
        else:
            team_update(team=team, member_user_ids=user_ids)
        for name, color, description in DEMO_LABELS:
            if not Label.objects.filter(business=business, name=name).exists():
                label_create(
                    business=business, name=name, color=color, description=description
                )
        admin = Member.objects.get(user__username=DEMO_EMAIL)
        for short_code, content in DEMO_CANNED_RESPONSES:
            exists = CannedResponse.objects.filter(
                business=business, short_code=short_code
            ).exists()
            if not exists:
                canned_response_create(
                    business=business,
                    short_code=short_code,
                    content=content,
                    created_by=admin,
                )
        self.stdout.write(
            "Team Support: "
            + ", ".join(agent.user.get_full_name() for agent in agents)
            + f"; labels: {', '.join(name for name, _, _ in DEMO_LABELS)}; "
            "canned responses: "
            + ", ".join(f"/{code}" for code, _ in DEMO_CANNED_RESPONSES)
            + "."
        )

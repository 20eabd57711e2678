"""Create (or refresh) the demo business: an admin login and one channel of each
platform kind wired to the sandbox. Run while PingBack and the sandbox are both
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

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from billing.models import Business
from billing.services import api_token_create, business_create
from channels_app.models import Channel
from channels_app.services import (
    channel_config_clean,
    channel_create,
    channel_public_config,
    channel_setup,
    channel_update,
)
from sandbox.x import DEMO_APP

DEMO_BUSINESS = "Demo Support"
DEMO_EMAIL = "admin@demo.pingback.test"
DEMO_PLATFORMS = ("telegram", "whatsapp", "instagram", "sms")
# The demo host page for the web widget (served by bin/run).
DEMO_WIDGET_PAGE = "http://localhost:8766"


class Command(BaseCommand):
    help = "Create or refresh the demo business, its admin and its X channel."

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
        channel = Channel.objects.filter(business=business, type="x").first()
        if channel is None:
            config = channel_config_clean(channel_type="x", config=DEMO_APP.as_config())
            channel = channel_create(business=business, channel_type="x", config=config)
        else:
            channel = channel_setup(channel=channel)
        self.stdout.write(f"X channel: {channel.get_setup_state_display()}. ")
        self.stdout.write(f"  {channel.setup_message}")
        for channel_type in DEMO_PLATFORMS:
            self._demo_channel(business, channel_type, sandbox_url)
        self._demo_widget(business)
        self.stdout.write(f"Login: {DEMO_EMAIL} / {password}")
        self.stdout.write(f"API token: {token}")

    def _demo_channel(self, business, channel_type: str, sandbox_url: str) -> None:
        module = importlib.import_module(f"sandbox.{channel_type}")
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
        self.stdout.write(f"{label} channel: {channel.get_setup_state_display()}.")
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
        query = urlencode(
            {"channel": channel.id, "pingback": settings.PINGBACK_PUBLIC_BASE_URL}
        )
        self.stdout.write(f"Web widget channel: {channel.get_setup_state_display()}.")
        self.stdout.write(
            f"  Chat as a website visitor: {demo_url.rstrip('/')}/?{query}"
        )

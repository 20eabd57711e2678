"""Create (or refresh) the demo business: an admin login and an X channel wired
to the sandbox. Run while PingBack and the sandbox are both serving, so X setup
(webhook registration, with its CRC against PingBack) goes through."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from billing.models import Business
from billing.services import api_token_create, business_create
from channels_app.models import Channel
from channels_app.services import channel_config_clean, channel_create, channel_setup
from sandbox.x import DEMO_APP

DEMO_BUSINESS = "Demo Support"
DEMO_EMAIL = "admin@demo.pingback.test"


class Command(BaseCommand):
    help = "Create or refresh the demo business, its admin and its X channel."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default="pingback-demo")

    def handle(self, *args, password: str, **options) -> None:
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
        self.stdout.write(f"Login: {DEMO_EMAIL} / {password}")
        self.stdout.write(f"API token: {token}")

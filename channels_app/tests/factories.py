import factory

from billing.tests.factories import BusinessFactory
from channels_app.models import Channel
from sandbox.platforms.x.payloads import DEMO_APP


class ChannelFactory(factory.django.DjangoModelFactory):
    """An X channel with the sandbox demo app's credentials, already set up."""

    class Meta:
        model = Channel

    business = factory.SubFactory(BusinessFactory)
    type = "x"
    is_active = True
    secrets = factory.LazyFunction(DEMO_APP.as_config)
    config = factory.LazyFunction(
        lambda: {
            "account_id": DEMO_APP.account.id,
            "handle": DEMO_APP.account.screen_name,
        }
    )
    setup_state = "ready"


def customer_conversation(channel: Channel, external_id: str, thread_key: str):
    """A conversation of `channel` (its business) with the customer whose id on
    the platform is `external_id`, under `thread_key`."""
    from conversations.tests.factories import ConversationFactory

    return ConversationFactory(
        business=channel.business,
        channel=channel,
        thread_key=thread_key,
        contact_identity__external_id=external_id,
    )

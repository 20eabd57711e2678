import factory
from django.utils import timezone

from channels_app.tests.factories import ChannelFactory
from conversations.models import Contact, ContactIdentity, Conversation, Message


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    business = factory.SubFactory("billing.tests.factories.BusinessFactory")
    name = factory.Faker("name")


class ContactIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactIdentity

    contact = factory.SubFactory(ContactFactory)
    channel = factory.SubFactory(
        ChannelFactory, business=factory.SelfAttribute("..contact.business")
    )
    external_id = factory.Sequence(lambda n: str(3_000_000_000 + n))
    handle = factory.Sequence(lambda n: f"customer{n}")


class ConversationFactory(factory.django.DjangoModelFactory):
    """A DM conversation on an X channel; pass `business=` to place it."""

    class Meta:
        model = Conversation

    business = factory.SubFactory("billing.tests.factories.BusinessFactory")
    channel = factory.SubFactory(
        ChannelFactory, business=factory.SelfAttribute("..business")
    )
    contact = factory.SubFactory(
        ContactFactory, business=factory.SelfAttribute("..business")
    )
    contact_identity = factory.SubFactory(
        ContactIdentityFactory,
        contact=factory.SelfAttribute("..contact"),
        channel=factory.SelfAttribute("..channel"),
    )
    channel_type = factory.SelfAttribute("channel.type")
    thread_key = factory.LazyAttribute(lambda o: f"dm:{o.contact_identity.external_id}")
    last_message_at = factory.LazyFunction(timezone.now)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    channel = factory.SelfAttribute("conversation.channel")
    direction = "inbound"
    text = factory.Faker("sentence")
    status = "received"
    platform_message_id = factory.Sequence(lambda n: str(1_800_000_000_000_000_000 + n))
    sent_at = factory.LazyFunction(timezone.now)


class ReplyFactory(MessageFactory):
    """An agent's reply not sent yet: outbound, `queued`, no platform id.
    Pass `status=` for a reply further along (failed, uncertain, ...)."""

    direction = "outbound"
    status = "queued"
    platform_message_id = None

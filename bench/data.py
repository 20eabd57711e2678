"""Benchmark data: businesses, agents, channels, and the inbox at scale.

The inbox data set (`inbox_dataset_ensure`) is bulk inserted, not sent through
the API: contacts, identities, conversations and ten messages per conversation
with `bulk_create`, in batches of conversations (portable to PostgreSQL and
SQLite, and to fields added later with defaults). It is generated once per
database and found again by its business name on later runs.

The workspace's share of it (`_workspace_ensure`: teams, labels, the admin's
assigned conversations and unread mentions) is added in a few set-based SQL
statements, to a data set generated before too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from billing.models import Business, Member
from billing.services import api_token_create, business_create
from channels_app.models import Channel
from conversations.models import Contact, ContactIdentity, Conversation, Message
from sandbox.platforms.x.payloads import DEMO_APP
from workspace.models import Label, Team

logger = logging.getLogger(__name__)

AGENTS = 20
MESSAGES_PER_CONVERSATION = 10
INBOX_CHANNEL_TYPES = ("x", "telegram", "whatsapp", "instagram", "sms")
# Share of conversations per status, in tenths: 3 open, 2 pending, 5 resolved.
STATUS_BY_TENTH = ("open",) * 3 + ("pending",) * 2 + ("resolved",) * 5
BATCH = 5000
TEAMS = 4
# Label name -> one conversation in how many carries it: `vip` is rare (the
# label filter's hard case: few matches spread over the whole inbox),
# `billing` common.
LABEL_EVERY = {"vip": 100, "bug": 10, "billing": 5}
# The admin has an unread mention in one conversation in MENTION_EVERY.
MENTION_EVERY = 200
# Search (`_search_ensure`): a word in about one message in SEARCH_RARE_EVERY
# (about 200 of 1,000,000) and one in about one message in SEARCH_COMMON_EVERY.
SEARCH_RARE_WORD = "zanzibar"
SEARCH_RARE_EVERY = 5003
SEARCH_COMMON_WORD = "refund"
SEARCH_COMMON_EVERY = 5


@dataclass(frozen=True)
class BenchBusiness:
    """A benchmark business: its admin (API token in clear) and agents' user
    ids."""

    business: Business
    admin: Member
    token: str
    agent_ids: tuple[int, ...]


def bench_business_create(name: str, *, agents: int = AGENTS) -> BenchBusiness:
    """Create a Pro business named `name` with an admin and `agents` agents
    (users with unusable passwords)."""
    slug = name.lower().replace(" ", "-")
    created = business_create(
        name=name, plan="pro", admin_email=f"admin@{slug}.bench.test"
    )
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(
                username=f"agent{index}@{slug}.bench.test",
                email=f"agent{index}@{slug}.bench.test",
                first_name=f"Agent {index}",
            )
            for index in range(agents)
        ]
    )
    Member.objects.bulk_create(
        [Member(user=user, business=created.business, role="agent") for user in users]
    )
    return BenchBusiness(
        business=created.business,
        admin=created.admin,
        token=created.token,
        agent_ids=tuple(user.pk for user in users),
    )


def x_channel_create(business: Business) -> Channel:
    """An X channel of the sandbox's demo app and account, ready to receive
    signed webhooks (created directly: no webhook registration)."""
    return Channel.objects.create(
        business=business,
        type=Channel.Type.X,
        config={
            "account_id": DEMO_APP.account.id,
            "handle": DEMO_APP.account.screen_name,
        },
        secrets=DEMO_APP.as_config(),
        setup_state=Channel.SetupState.READY,
    )


@dataclass(frozen=True)
class InboxDataset:
    """A business holding `conversations` conversations and ten times as many
    messages, spread over five channels, three statuses and `AGENTS` agents."""

    bench: BenchBusiness
    conversations: int
    messages: int
    created: bool
    team_ids: tuple[int, ...] = ()

    @property
    def sample_conversation_id(self) -> int:
        """A conversation in the middle of the inbox (ten messages)."""
        ids = Conversation.objects.filter(business=self.bench.business).order_by("id")
        return ids.values_list("id", flat=True)[self.conversations // 2]


def inbox_dataset_ensure(conversations: int) -> InboxDataset:
    """Return the inbox data set of `conversations` conversations, generating
    it when the database does not hold it complete."""
    name = f"Bench inbox {conversations}"
    business = Business.objects.filter(name=name).first()
    if business is not None:
        messages = Message.objects.filter(conversation__business=business).count()
        if (
            Conversation.objects.filter(business=business).count() == conversations
            and messages == conversations * MESSAGES_PER_CONVERSATION
        ):
            bench = _bench_business_reopen(business)
            team_ids = _workspace_ensure(bench)
            _search_ensure(bench)
            return InboxDataset(
                bench=bench,
                conversations=conversations,
                messages=messages,
                created=False,
                team_ids=team_ids,
            )
        logger.warning("bench.dataset_incomplete", extra={"business": name})
        _business_delete(business)
    bench = bench_business_create(name)
    _inbox_generate(bench, conversations)
    team_ids = _workspace_ensure(bench)
    _search_ensure(bench)
    return InboxDataset(
        bench=bench,
        conversations=conversations,
        messages=conversations * MESSAGES_PER_CONVERSATION,
        created=True,
        team_ids=team_ids,
    )


def _workspace_ensure(bench: BenchBusiness) -> tuple[int, ...]:
    """Give the data set, once, what the workspace's views filter on: `TEAMS`
    teams (one conversation in five has none), the labels of `LABEL_EVERY`,
    the second agent's conversations handed to the admin (the benchmark's
    caller, so `?assignee=me` has rows; the first agent's are all
    unassigned) and the admin's unread mentions in one
    conversation in `MENTION_EVERY`. Returns the team ids."""
    business = bench.business
    teams = list(Team.objects.filter(business=business).order_by("id"))
    if teams:
        return tuple(team.pk for team in teams)
    with transaction.atomic():
        teams = [
            Team.objects.create(business=business, name=f"Team {index}")
            for index in range(TEAMS)
        ]
        labels = {
            name: Label.objects.create(business=business, name=name)
            for name in LABEL_EVERY
        }
        now = timezone.now()
        # A UUID as each database stores it (SQLite: 32 hex digits).
        business_id = (
            business.pk if connection.vendor == "postgresql" else business.pk.hex
        )
        with connection.cursor() as cursor:
            # Spread by a hash of the id, not the id itself: statuses and
            # assignees follow the id's residues, and a label or team that
            # did too would never meet some statuses. The hash is plain
            # integer arithmetic ((id * 7919 + salt) mod 10007), so the same
            # SQL runs on PostgreSQL and on the SQLite of the smoke test.
            for index, team in enumerate(teams):
                cursor.execute(
                    "UPDATE conversations_conversation SET team_id = %s "
                    "WHERE business_id = %s "
                    "AND ((id * 7919 + %s) %% 10007) %% %s = %s",
                    [team.pk, business_id, 1, TEAMS + 1, index],
                )
            cursor.execute(
                "UPDATE conversations_conversation SET assignee_id = %s "
                "WHERE business_id = %s AND assignee_id = %s",
                [bench.admin.user_id, business_id, bench.agent_ids[1]],
            )
            for salt, (name, every) in enumerate(LABEL_EVERY.items(), start=2):
                cursor.execute(
                    "INSERT INTO conversations_conversationlabel "
                    "(conversation_id, label_id, last_message_at, created_at) "
                    "SELECT id, %s, last_message_at, %s "
                    "FROM conversations_conversation "
                    "WHERE business_id = %s "
                    "AND ((id * 7919 + %s) %% 10007) %% %s = 0",
                    [labels[name].pk, now, business_id, salt, every],
                )
            cursor.execute(
                "INSERT INTO conversations_mention "
                "(message_id, conversation_id, user_id, created_at, read_at) "
                "SELECT MIN(m.id), m.conversation_id, %s, %s, NULL "
                "FROM conversations_message m "
                "JOIN conversations_conversation c ON c.id = m.conversation_id "
                "WHERE c.business_id = %s "
                "AND ((c.id * 7919 + %s) %% 10007) %% %s = 0 "
                "GROUP BY m.conversation_id",
                [bench.admin.user_id, now, business_id, 9, MENTION_EVERY],
            )
            # Their Mentions view, as `mentions_create` keeps it.
            cursor.execute(
                "INSERT INTO conversations_unreadmention "
                "(conversation_id, user_id, last_message_at) "
                "SELECT DISTINCT x.conversation_id, x.user_id, c.last_message_at "
                "FROM conversations_mention x "
                "JOIN conversations_conversation c ON c.id = x.conversation_id "
                "WHERE c.business_id = %s AND x.read_at IS NULL "
                "ON CONFLICT DO NOTHING",
                [business_id],
            )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ANALYZE conversations_conversation, conversations_conversationlabel, "
                "conversations_mention, conversations_unreadmention"
            )
    return tuple(team.pk for team in teams)


def search_phone(contact_id: int) -> str:
    """The E.164 number `_search_ensure` gives contact `contact_id`."""
    return f"+3519{contact_id % 100_000_000:08d}"


def _search_ensure(bench: BenchBusiness) -> None:
    """Give the data set, once, what search looks for: an e-mail address
    (`customer<id>@bench.example`) and a phone number (`search_phone`) per
    contact, with their `search_text` as `search_text_refresh` writes it;
    `SEARCH_RARE_WORD` and `SEARCH_COMMON_WORD` appended to messages spread
    by a hash of the id (on PostgreSQL the trigger re-indexes them)."""
    from contacts.models import ContactEmail, ContactPhone
    from contacts.search_text import search_text_for

    business = bench.business
    if ContactEmail.objects.filter(business=business).exists():
        return
    business_id = business.pk if connection.vendor == "postgresql" else business.pk.hex
    last = 0
    while True:
        with transaction.atomic():
            contacts = list(
                Contact.objects.filter(business=business, pk__gt=last)
                .order_by("pk")
                .prefetch_related("identities")[:BATCH]
            )
            if not contacts:
                break
            last = contacts[-1].pk
            ContactEmail.objects.bulk_create(
                [
                    ContactEmail(
                        contact=contact,
                        business=business,
                        address=f"customer{contact.pk}@bench.example",
                        source="bench",
                    )
                    for contact in contacts
                ],
                batch_size=BATCH,
            )
            ContactPhone.objects.bulk_create(
                [
                    ContactPhone(
                        contact=contact,
                        business=business,
                        number=search_phone(contact.pk),
                        source="bench",
                    )
                    for contact in contacts
                ],
                batch_size=BATCH,
            )
            for contact in contacts:
                contact.search_text = search_text_for(
                    name=contact.name,
                    company=contact.company,
                    emails=[f"customer{contact.pk}@bench.example"],
                    phones=[search_phone(contact.pk)],
                    identities=[
                        (identity.handle, identity.external_id)
                        for identity in contact.identities.all()
                    ],
                )
            Contact.objects.bulk_update(contacts, ["search_text"], batch_size=1000)
    with transaction.atomic(), connection.cursor() as cursor:
        for word, salt, every in (
            (SEARCH_RARE_WORD, 13, SEARCH_RARE_EVERY),
            (SEARCH_COMMON_WORD, 17, SEARCH_COMMON_EVERY),
        ):
            cursor.execute(
                "UPDATE conversations_message SET text = text || %s "
                "WHERE conversation_id IN (SELECT id FROM conversations_conversation "
                "WHERE business_id = %s) "
                "AND ((id * 7919 + %s) %% 10007) %% %s = 0",
                [f" {word}", business_id, salt, every],
            )
    if connection.vendor == "postgresql":
        # The words were appended by an UPDATE of a fifth of the messages:
        # vacuumed as autovacuum would soon do in a running installation
        # (which never rewrites that many rows at once), so that dead rows
        # and a cleared visibility map do not depend on when it last ran.
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM ANALYZE conversations_contact, conversations_message, "
                "contacts_contactemail, contacts_contactphone"
            )


def _bench_business_reopen(business: Business) -> BenchBusiness:
    admin = Member.objects.select_related("user").get(business=business, role="admin")
    _, token = api_token_create(member=admin, name="bench")
    agent_ids = tuple(
        Member.objects.filter(business=business, role="agent")
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    return BenchBusiness(
        business=business, admin=admin, token=token, agent_ids=agent_ids
    )


def _business_delete(business: Business) -> None:
    """Delete a business, its data and its members' users (an interrupted
    generation leaves them behind)."""
    user_ids = list(
        Member.objects.filter(business=business).values_list("user_id", flat=True)
    )
    Message.objects.filter(conversation__business=business).delete()
    business.delete()
    get_user_model().objects.filter(pk__in=user_ids).delete()


def _inbox_generate(bench: BenchBusiness, conversations: int) -> None:
    business = bench.business
    channels = Channel.objects.bulk_create(
        [
            Channel(
                business=business,
                type=channel_type,
                config={"handle": f"bench_{channel_type}"},
                setup_state=Channel.SetupState.READY,
            )
            for channel_type in INBOX_CHANNEL_TYPES
        ]
    )
    newest = timezone.now()
    for start in range(0, conversations, BATCH):
        indexes = range(start, min(start + BATCH, conversations))
        with transaction.atomic():
            _conversations_insert(bench, channels, indexes, conversations, newest)
    _analyze()


def _conversations_insert(
    bench: BenchBusiness,
    channels: list[Channel],
    indexes: range,
    total: int,
    newest,
) -> None:
    business = bench.business
    contacts = Contact.objects.bulk_create(
        [Contact(business=business, name=f"Customer {index}") for index in indexes]
    )
    identities = ContactIdentity.objects.bulk_create(
        [
            ContactIdentity(
                contact=contact,
                channel=channels[index % len(channels)],
                external_id=str(4_000_000_000 + index),
                handle=f"customer{index}",
            )
            for index, contact in zip(indexes, contacts, strict=True)
        ]
    )
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                business=business,
                channel=identity.channel,
                channel_type=identity.channel.type,
                contact=identity.contact,
                contact_identity=identity,
                thread_key=f"dm:{identity.external_id}",
                status=STATUS_BY_TENTH[index % 10],
                assignee_id=(
                    bench.agent_ids[index % len(bench.agent_ids)] if index % 4 else None
                ),
                # Distinct times, newest last; ten minutes of messages each.
                last_message_at=newest - timedelta(seconds=30 * (total - index)),
                last_message_preview=f"Message 9 of conversation {index}",
                unread_count=index % 3,
            )
            for index, identity in zip(indexes, identities, strict=True)
        ]
    )
    _messages_insert(bench, conversations)


def _messages_insert(bench: BenchBusiness, conversations: list[Conversation]) -> None:
    """Ten messages per conversation, alternating inbound (from the contact)
    and outbound (from the assignee, sent), a minute apart, the last one at
    the conversation's `last_message_at`."""
    messages = []
    for conversation in conversations:
        for number in range(MESSAGES_PER_CONVERSATION):
            inbound = number % 2 == 0
            messages.append(
                Message(
                    conversation=conversation,
                    channel=conversation.channel,
                    direction="inbound" if inbound else "outbound",
                    text=f"Message {number} of conversation {conversation.pk}",
                    sender_contact=conversation.contact if inbound else None,
                    author_id=None if inbound else conversation.assignee_id,
                    platform_message_id=f"bench-{conversation.pk}-{number}",
                    status="received" if inbound else "sent",
                    sent_at=conversation.last_message_at
                    - timedelta(minutes=MESSAGES_PER_CONVERSATION - 1 - number),
                )
            )
    Message.objects.bulk_create(messages, batch_size=BATCH)


def _analyze() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Every table the data set fills, as autovacuum would in a
            # running installation: an identity table never analysed made
            # PostgreSQL read 10,000 rows per channel for a page of contacts.
            cursor.execute(
                "ANALYZE conversations_conversation, conversations_message, "
                "conversations_contact, conversations_contactidentity"
            )
        else:
            cursor.execute("ANALYZE")

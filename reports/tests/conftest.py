"""A hand-computed fixture for the report tests, built through the real
services (ingest, replies, notes, status changes) with the clock set to
each moment. The business is in America/Sao_Paulo (UTC-3 all year), so
evening UTC times fall on the previous local day.

Times below are UTC (local = UTC-3); the report covers local 2026-03-01
and 2026-03-02.

- C1, channel Alpha, Ana, team Support, label vip: customer writes 03-01
  12:00 (opens it), Ana replies 12:10 (first response 600 s), resolved
  14:00 (7,200 s); the customer writes again 03-02 13:00 (reopened),
  resolved 15:00 (97,200 s after the opening).
- C2, Alpha, Ben, labels vip and billing: opened 03-01 20:00, Ben's note at
  20:05 (not a response), reply 20:30 (1,800 s), resolved 03-02 02:30 UTC,
  which is local 03-01 23:30 (23,400 s).
- C3, Beta, unassigned: opened 03-02 02:00 UTC (local 03-01 23:00), Ana
  replies 04:00 UTC (local 03-02; 7,200 s).
- C4, Beta, Ana: opened 03-02 12:00; two replies that then failed (12:05,
  "Rate limited", first response 300 s; 12:06 with no reason).
- C5, Alpha, Ben: opened 02-28 12:00 (before the range), replied 03-01
  12:00 (86,400 s: counted on 03-01, when the response happened).

Another business has the same kind of data, which must never show.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from unittest import mock

import pytest

from billing.models import Business, Member
from billing.tests.factories import MemberFactory, UserFactory
from channels_app.platforms.base import InboundContact, InboundMessage
from channels_app.tests.factories import ChannelFactory
from conversations.models import Conversation, Message
from conversations.services import conversation_update, ingest, post_note, post_reply
from workspace.tests.factories import LabelFactory, TeamFactory


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@contextmanager
def clock(when: datetime):
    """Every `timezone.now()` (services, auto_now fields) answers `when`."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


@dataclass
class Fixture:
    business: Business
    admin: Member
    ana: Member
    ben: Member
    alpha: object
    beta: object
    support: object
    vip: object
    billing: object
    conversations: dict[str, Conversation]


def customer_writes(channel, who: str, when: datetime) -> Conversation:
    """`who` writes on `channel` at `when` (ingest, as a webhook would)."""
    with clock(when):
        ingest(
            channel=channel,
            items=[
                InboundMessage(
                    platform_message_id=f"{who}-{when.isoformat()}",
                    thread_key=f"dm:{who}",
                    contact=InboundContact(external_id=who, name=who),
                    text="hello",
                    sent_at=when,
                )
            ],
        )
    return Conversation.objects.get(channel=channel, thread_key=f"dm:{who}")


def reply(conversation, member, when, *, fail_with: str | None = None) -> Message:
    with clock(when):
        message = post_reply(conversation=conversation, author=member.user, text="hi")
    if fail_with is not None:
        Message.objects.filter(pk=message.pk).update(status="failed", error=fail_with)
    return message


def change(conversation, by, when, **fields) -> None:
    conversation.refresh_from_db()
    with clock(when):
        conversation_update(conversation=conversation, by=by.user, **fields)


def build(business: Business, prefix: str = "") -> Fixture:
    """The conversations described in the module's docstring, in `business`."""
    admin = MemberFactory(business=business, role="admin")
    ana = MemberFactory(
        business=business, user=UserFactory(first_name="Ana", last_name="Silva")
    )
    ben = MemberFactory(
        business=business, user=UserFactory(first_name="Ben", last_name="Okoro")
    )
    alpha = ChannelFactory(business=business, name=f"{prefix}Alpha")
    beta = ChannelFactory(business=business, name=f"{prefix}Beta")
    support = TeamFactory(business=business, name="Support")
    vip = LabelFactory(business=business, name="vip")
    billing = LabelFactory(business=business, name="billing")

    c5 = customer_writes(alpha, "c5", utc(2, 28, 12))
    change(c5, admin, utc(2, 28, 12, 1), assignee=ben.user)
    reply(c5, ben, utc(3, 1, 12))

    c1 = customer_writes(alpha, "c1", utc(3, 1, 12))
    change(c1, admin, utc(3, 1, 12, 1), assignee=ana.user, team=support, labels=[vip])
    reply(c1, ana, utc(3, 1, 12, 10))
    change(c1, ana, utc(3, 1, 14), status="resolved")

    c2 = customer_writes(alpha, "c2", utc(3, 1, 20))
    change(c2, admin, utc(3, 1, 20, 1), assignee=ben.user, labels=[vip, billing])
    with clock(utc(3, 1, 20, 5)):
        post_note(conversation=c2, author=ben.user, text="looking")
    reply(c2, ben, utc(3, 1, 20, 30))
    change(c2, ben, utc(3, 2, 2, 30), status="resolved")

    c3 = customer_writes(beta, "c3", utc(3, 2, 2))
    reply(c3, ana, utc(3, 2, 4))

    customer_writes(alpha, "c1", utc(3, 2, 13))  # reopens C1
    change(c1, ana, utc(3, 2, 15), status="resolved")

    c4 = customer_writes(beta, "c4", utc(3, 2, 12))
    change(c4, admin, utc(3, 2, 12, 1), assignee=ana.user)
    reply(c4, ana, utc(3, 2, 12, 5), fail_with="Rate limited")
    reply(c4, ana, utc(3, 2, 12, 6), fail_with="")
    return Fixture(
        business=business,
        admin=admin,
        ana=ana,
        ben=ben,
        alpha=alpha,
        beta=beta,
        support=support,
        vip=vip,
        billing=billing,
        conversations={"c1": c1, "c2": c2, "c3": c3, "c4": c4, "c5": c5},
    )


@pytest.fixture
def fixture(db) -> Fixture:
    from billing.tests.factories import BusinessFactory

    build(BusinessFactory(time_zone="UTC"), prefix="Other ")
    return build(BusinessFactory(time_zone="America/Sao_Paulo"))

"""Backfill the reports' events from the conversations stored before them:
each conversation's first agent reply, and the resolutions and reopenings
their activity entries record (docs/reports.md, "Before reports existed").
Conversations are read in batches of ids, so memory stays flat."""

from django.db import migrations
from django.db.models import Min

BATCH = 2000
PRIVATE_KINDS = ("note", "activity")
# Activity entries that move a conversation out of resolved (the texts
# `conversations.services` writes).
STATUS_ENDINGS = (" reopened this conversation", " marked this conversation as pending")
STATUS_STARTS = ("Reopened by the customer", "Reopened: the snooze ended", "Snoozed until")


def backfill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    Event = apps.get_model("reports", "ConversationEvent")
    last = 0
    while True:
        batch = list(
            Conversation.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "business_id", "created_at")[:BATCH]
        )
        if not batch:
            return
        last = batch[-1][0]
        opened = {pk: (business_id, created) for pk, business_id, created in batch}
        events = []
        firsts = (
            Message.objects.filter(
                conversation_id__in=list(opened),
                direction="outbound",
                author__isnull=False,
            )
            .exclude(kind__in=PRIVATE_KINDS)
            .values("conversation_id")
            .annotate(first=Min("sent_at"))
            .values_list("conversation_id", "first")
        )
        for pk, first in firsts:
            business_id, created = opened[pk]
            events.append(
                Event(
                    business_id=business_id,
                    conversation_id=pk,
                    kind="first_response",
                    at=first,
                    opened_at=created,
                )
            )
        changes = (
            Message.objects.filter(conversation_id__in=list(opened), kind="activity")
            .order_by("conversation_id", "sent_at", "pk")
            .values_list("conversation_id", "text", "sent_at")
        )
        resolved: set[int] = set()  # conversations whose last status was resolved
        for pk, text, at in changes:
            if text.endswith(" resolved this conversation"):
                kind = "resolved"
                resolved.add(pk)
            elif text.endswith(STATUS_ENDINGS) or text.startswith(STATUS_STARTS):
                # Reopened only when it was resolved (the customer also
                # wakes pending and snoozed conversations).
                kind = "reopened" if pk in resolved else None
                resolved.discard(pk)
            else:
                continue
            if kind is None:
                continue
            business_id, created = opened[pk]
            events.append(
                Event(
                    business_id=business_id,
                    conversation_id=pk,
                    kind=kind,
                    at=at,
                    opened_at=created,
                )
            )
        Event.objects.bulk_create(events, ignore_conflicts=True, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_initial"),
        ("conversations", "0017_search_gin_no_pending_list"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

"""Backfill the messages per conversation and local day from the messages
stored before reports existed, business by business (each in its time
zone), in batches of conversations."""

import zoneinfo

from django.db import migrations
from django.db.models import Count
from django.db.models.functions import TruncDate

BATCH = 2000
PRIVATE_KINDS = ("note", "activity")


def backfill(apps, schema_editor):
    Business = apps.get_model("billing", "Business")
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    Day = apps.get_model("reports", "ConversationDay")
    for business_id, name in Business.objects.values_list("pk", "time_zone"):
        try:
            zone = zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            zone = zoneinfo.ZoneInfo("UTC")
        last = 0
        while True:
            ids = list(
                Conversation.objects.filter(business_id=business_id, pk__gt=last)
                .order_by("pk")
                .values_list("pk", flat=True)[:BATCH]
            )
            if not ids:
                break
            last = ids[-1]
            rows: dict[tuple, list[int]] = {}
            counts = (
                Message.objects.filter(conversation_id__in=ids)
                .exclude(kind__in=PRIVATE_KINDS)
                .annotate(day=TruncDate("sent_at", tzinfo=zone))
                .values("conversation_id", "day", "direction")
                .annotate(n=Count("id"))
                .order_by()
                .values_list("conversation_id", "day", "direction", "n")
            )
            for conversation_id, day, direction, n in counts:
                row = rows.setdefault((conversation_id, day), [0, 0])
                row[0 if direction == "inbound" else 1] += n
            Day.objects.filter(conversation_id__in=ids).delete()
            Day.objects.bulk_create(
                [
                    Day(
                        business_id=business_id,
                        conversation_id=conversation_id,
                        day=day,
                        messages_in=n_in,
                        messages_out=n_out,
                    )
                    for (conversation_id, day), (n_in, n_out) in rows.items()
                ],
                batch_size=150,
            )


class Migration(migrations.Migration):
    dependencies = [("reports", "0003_conversation_day")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

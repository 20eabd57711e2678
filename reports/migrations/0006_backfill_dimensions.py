"""Copy each conversation's channel, assignee and team onto its report rows
(`ConversationEvent`, `ConversationDay`) stored before they carried them:
the conversation as it is now (what reports showed until then), in batches
of conversations, one UPDATE per table and batch."""

from django.db import migrations
from django.db.models import OuterRef, Subquery

BATCH = 5000


def backfill(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Event = apps.get_model("reports", "ConversationEvent")
    Day = apps.get_model("reports", "ConversationDay")
    last = 0
    while True:
        ids = list(
            Conversation.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", flat=True)[:BATCH]
        )
        if not ids:
            break
        last = ids[-1]
        of = Conversation.objects.filter(pk=OuterRef("conversation_id"))
        for model in (Event, Day):
            model.objects.filter(conversation_id__in=ids).update(
                channel_id=Subquery(of.values("channel_id")[:1]),
                assignee_id=Subquery(of.values("assignee_id")[:1]),
                team_id=Subquery(of.values("team_id")[:1]),
            )


class Migration(migrations.Migration):
    dependencies = [("reports", "0005_dimensions")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

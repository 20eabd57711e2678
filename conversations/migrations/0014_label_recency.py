"""A label link carries its conversation's last activity, so that a label's
conversations are listed newest first from one index."""

from django.db import migrations, models

COPY = (
    "UPDATE conversations_conversationlabel SET last_message_at = ("
    "SELECT c.last_message_at FROM conversations_conversation c "
    "WHERE c.id = conversations_conversationlabel.conversation_id)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0013_search"),
        ("workspace", "0002_savedfilter"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversationlabel",
            name="last_message_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunSQL(COPY, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="conversationlabel",
            name="last_message_at",
            field=models.DateTimeField(
                help_text="The conversation's last_message_at (a copy, for the "
                "label's list)."
            ),
        ),
        migrations.RemoveIndex(
            model_name="conversationlabel",
            name="conv_label_label_idx",
        ),
        migrations.AddIndex(
            model_name="conversationlabel",
            index=models.Index(
                fields=["label", "-last_message_at", "-conversation"],
                name="conv_label_recent_idx",
            ),
        ),
    ]

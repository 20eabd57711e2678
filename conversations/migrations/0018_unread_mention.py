"""An agent's unread mentions, one row per conversation carrying its last
activity, so their Mentions view is read newest first from one index
(`UnreadMention`); filled from the unread `Mention` rows."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


COPY = (
    "INSERT INTO conversations_unreadmention (conversation_id, user_id, last_message_at) "
    "SELECT DISTINCT m.conversation_id, m.user_id, c.last_message_at "
    "FROM conversations_mention m "
    "JOIN conversations_conversation c ON c.id = m.conversation_id "
    "WHERE m.read_at IS NULL"
)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0017_search_gin_no_pending_list"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="UnreadMention",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "last_message_at",
                    models.DateTimeField(
                        help_text="The conversation's last_message_at (a copy, for the Mentions view)."
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="unread_mentions",
                        to="conversations.conversation",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="unread_mentions",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(
                        fields=["user", "-last_message_at", "-conversation"],
                        name="unread_mention_recent_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("conversation", "user"), name="unread_mention_unique"
                    )
                ],
            },
        ),
        migrations.RunSQL(COPY, reverse_sql=migrations.RunSQL.noop),
    ]

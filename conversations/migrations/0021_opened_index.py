"""An index on conversations (business, created_at) carrying the id,
channel, assignee and team, so that reports count the conversations opened
in a range (per day, channel, agent or team) from the index when the range
is a small part of the history, instead of reading the whole table
(docs/reports.md).

Built with CREATE INDEX CONCURRENTLY on PostgreSQL (the migration is not
atomic): the table stays open to writes while the index is built. Other
databases get a plain index.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """`AddIndexConcurrently` on PostgreSQL, a plain `AddIndex` elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("conversations", "0020_activity_kinds")]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="conversation",
            index=models.Index(
                fields=["business", "created_at"],
                include=("id", "channel", "assignee", "team"),
                name="conv_opened_idx",
            ),
        ),
    ]

"""Each report event's time in business hours (`ConversationEvent.
open_seconds`) and the version of the business's hours it was worked out
under (`hours_version`, 0: never), with an index on (business,
hours_version, id) so a report finds at once whether any event of the
business is behind (its lowest version), and the refresh walks those
behind in batches (docs/reports.md).

The index is built with CREATE INDEX CONCURRENTLY on PostgreSQL (the
migration is not atomic): the table stays open to writes meanwhile. Other
databases get a plain index. Migration `reports/0010` fills the columns.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """`AddIndexConcurrently` on PostgreSQL, a plain `AddIndex` elsewhere (as
    in `conversations/0021`)."""

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

    dependencies = [
        ("billing", "0007_business_hours_version"),
        ("reports", "0008_backfill_event_seconds"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversationevent",
            name="open_seconds",
            field=models.FloatField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="conversationevent",
            name="hours_version",
            field=models.PositiveIntegerField(db_default=0, default=0),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="conversationevent",
            index=models.Index(
                fields=["business", "hours_version", "id"],
                name="report_event_hours_idx",
            ),
        ),
    ]

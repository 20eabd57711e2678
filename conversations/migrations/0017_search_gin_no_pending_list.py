"""Search indexes without a pending list (docs/search.md).

A GIN index with `fastupdate` on (PostgreSQL's default) keeps new entries in
an unsorted pending list until a vacuum or 4 MB of them, and every search
reads the whole list: at 1,000,000 messages a rare word took 15.6 ms with
16,000 entries pending and 2.0 ms without, so a search's time depended on
when autovacuum had last passed. With `fastupdate` off each new message
writes its words into the index at once (about 20 microseconds more per
message, in the worker that stores it), and a search takes the same time
whenever it runs. The lists already pending are moved into the indexes.

PostgreSQL only (skipped on other databases).
"""

from django.db import migrations

INDEXES = ("msg_search_idx", "conv_search_idx", "contact_search_trgm_idx")


def _run(schema_editor, fastupdate: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for index in INDEXES:
        schema_editor.execute(
            f"ALTER INDEX IF EXISTS {index} SET (fastupdate = {fastupdate})"
        )
        if fastupdate == "off":
            schema_editor.execute(
                "SELECT gin_clean_pending_list(to_regclass(%s)) "
                "WHERE to_regclass(%s) IS NOT NULL",
                [index, index],
            )


def forward(apps, schema_editor) -> None:
    _run(schema_editor, "off")


def reverse(apps, schema_editor) -> None:
    _run(schema_editor, "on")


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0016_message_details_reactions_opt_out"),
    ]

    operations = [migrations.RunPython(forward, reverse)]

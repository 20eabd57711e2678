"""Fill `ConversationEvent.seconds` (wall-clock seconds from the opening to
the event) on the rows stored before the column existed, in batches of
`BATCH` ids, each batch its own transaction (the migration is not atomic),
so no lock is held on the table for longer than one batch.

On PostgreSQL each batch is one UPDATE with the expression reports used
before the column (`GREATEST(0, date_part('epoch', at - opened_at))`), so
the figures stay the same to the last bit; elsewhere the rows are read and
written back in Python with the same arithmetic
(`reports.services.seconds_between`). Rows already filled (written by the
services since) are left as they are. Rerunning it is harmless.
"""

import datetime as dt

from django.db import migrations, transaction

BATCH = 10000

_UPDATE = (
    "UPDATE reports_conversationevent "
    "SET seconds = GREATEST(0, date_part('epoch', at - opened_at)) "
    "WHERE id >= %s AND id < %s AND seconds IS NULL"
)


def _seconds(opened_at, at) -> float:
    # As reports.services.seconds_between (kept here: a migration does not
    # follow later changes of the app's code).
    delta = at - opened_at
    if delta <= dt.timedelta(0):
        return 0.0
    return (delta.seconds * 1_000_000 + delta.microseconds) / 1_000_000.0 + (
        86400.0 * delta.days
    )


def backfill(apps, schema_editor):
    Event = apps.get_model("reports", "ConversationEvent")
    empty = Event.objects.filter(seconds__isnull=True)
    first = empty.order_by("pk").values_list("pk", flat=True).first()
    last = empty.order_by("-pk").values_list("pk", flat=True).first()
    if first is None:
        return
    connection = transaction.get_connection()
    postgres = connection.vendor == "postgresql"
    for start in range(first, last + 1, BATCH):
        with transaction.atomic():
            if postgres:
                with connection.cursor() as cursor:
                    cursor.execute(_UPDATE, [start, start + BATCH])
                continue
            rows = list(
                empty.filter(pk__gte=start, pk__lt=start + BATCH).only(
                    "pk", "opened_at", "at"
                )
            )
            for row in rows:
                row.seconds = _seconds(row.opened_at, row.at)
            Event.objects.bulk_update(rows, ["seconds"], batch_size=500)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("reports", "0007_event_seconds")]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

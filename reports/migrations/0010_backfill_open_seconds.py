"""Fill `ConversationEvent.open_seconds` on the events stored before the
column, for each business with business hours: the business's
`hours_version` goes from 0 to 1, and its events (at 0) get their open
seconds under its hours and that version, `BATCH` events an UPDATE, each
batch its own transaction (the migration is not atomic), so no lock is held
on the table for longer than one batch. Events of businesses without hours
stay at 0 with no open seconds, which is current for them.

On PostgreSQL each batch is one UPDATE with the arithmetic reports use on
the two moments (the open spans as arrays, `width_bucket`, see
`reports.selectors.OPEN_SECONDS_SQL`); elsewhere the rows are read and
written back in Python with `WeeklyHours.open_seconds`. The spans come from
`workspace.hours` (the arithmetic, no models), imported only when there is
something to fill. Until it is done, reports measure the business's times
from the two moments, so the figures are the same before, during and after.
Rerunning it is harmless.
"""

from django.db import migrations, transaction

BATCH = 10000

# As `reports.services._REFRESH`: the next batch after the last (version,
# id), in the order of report_event_hours_idx.
_REFRESH = """
WITH open_hours AS (SELECT %s::float8[] AS starts, %s::float8[] AS lengths,
                           %s::float8[] AS before),
batch AS (
  SELECT id, hours_version FROM reports_conversationevent
  WHERE business_id = %s AND hours_version < %s AND (hours_version, id) > (%s, %s)
    AND opened_at >= %s AND at <= %s
  ORDER BY hours_version, id LIMIT %s
),
measured AS (
  SELECT e.id, o.starts, o.lengths, o.before,
         date_part('epoch', e.opened_at) AS a,
         date_part('epoch', e.at) AS b,
         width_bucket(date_part('epoch', e.opened_at), o.starts) AS ka,
         width_bucket(date_part('epoch', e.at), o.starts) AS kb
  FROM reports_conversationevent e JOIN batch ON batch.id = e.id, open_hours o
),
updated AS (
  UPDATE reports_conversationevent AS e
  SET open_seconds = GREATEST(0,
    CASE WHEN kb = 0 THEN 0 ELSE before[kb] + LEAST(b - starts[kb], lengths[kb]) END
    - CASE WHEN ka = 0 THEN 0 ELSE before[ka] + LEAST(a - starts[ka], lengths[ka])
      END),
    hours_version = %s
  FROM measured WHERE e.id = measured.id RETURNING e.id
)
SELECT hours_version, id FROM batch ORDER BY hours_version DESC, id DESC LIMIT 1
"""


def _arrays(hours, start, end):
    # As reports.selectors.open_span_arrays.
    starts, lengths, before, total = [], [], [], 0.0
    for a, b in hours.spans(start, end):
        starts.append(a.timestamp())
        lengths.append((b - a).total_seconds())
        before.append(total)
        total += lengths[-1]
    if not starts:
        return [start.timestamp()], [0.0], [0.0]
    return starts, lengths, before


def backfill(apps, schema_editor):
    from django.db.models import F, Max, Min

    Business = apps.get_model("billing", "Business")
    Interval = apps.get_model("workspace", "OpeningInterval")
    Event = apps.get_model("reports", "ConversationEvent")
    with_hours = set(Interval.objects.values_list("business_id", flat=True))
    if not with_hours:
        return
    from workspace.hours import WeeklyHours, zone_of

    connection = transaction.get_connection()
    postgres = connection.vendor == "postgresql"
    for business_id in sorted(with_hours, key=str):
        with transaction.atomic():
            Business.objects.filter(pk=business_id, hours_version=0).update(
                hours_version=F("hours_version") + 1
            )
        business = Business.objects.get(pk=business_id)
        week = {}
        for weekday, opens, closes in Interval.objects.filter(
            business_id=business_id
        ).values_list("weekday", "opens", "closes"):
            week.setdefault(weekday, []).append((opens, closes))
        hours = WeeklyHours(zone=zone_of(business.time_zone), week=week)
        version = business.hours_version
        behind = Event.objects.filter(
            business_id=business_id, hours_version__lt=version
        )
        bounds = behind.aggregate(lo=Min("opened_at"), hi=Max("at"))
        lo, hi = bounds["lo"], bounds["hi"]
        if lo is None:
            continue
        # (An event written meanwhile outside [lo, hi] is left behind: reports
        # measure it from its moments and queue its refresh.)
        behind = behind.filter(opened_at__gte=lo, at__lte=hi)
        arrays = _arrays(hours, lo, max(lo, hi))
        if not postgres:
            while True:
                with transaction.atomic():
                    rows = list(behind.only("pk", "opened_at", "at")[:BATCH])
                    for row in rows:
                        row.open_seconds = hours.open_seconds(row.opened_at, row.at)
                        row.hours_version = version
                    Event.objects.bulk_update(
                        rows, ["open_seconds", "hours_version"], batch_size=500
                    )
                if not rows:
                    break
            continue
        last = (-1, 0)
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    _REFRESH,
                    [*arrays, business_id, version, *last, lo, hi, BATCH, version],
                )
                found = cursor.fetchone()
            if found is None:
                break
            last = found


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("reports", "0009_event_open_seconds"),
        ("workspace", "0003_business_hours_away_messages"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]

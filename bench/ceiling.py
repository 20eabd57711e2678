"""The ceiling: the least a Django view can do with a webhook, served the same way.

`POST /bench/ceiling` decodes the JSON body and inserts it as one row into a
table of its own (`bench_ceiling`), then answers 200. PingBack's ingest (verify
the signature, store the event under its dedupe key, schedule processing) is
reported as a ratio of this view's requests per second.
"""

from __future__ import annotations

import json

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

TABLE = "bench_ceiling"

_DDL = {
    "postgresql": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, "
        "body jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())"
    ),
    "sqlite": (
        f"CREATE TABLE IF NOT EXISTS {TABLE} (id integer PRIMARY KEY "
        "AUTOINCREMENT, body text NOT NULL, "
        "received_at text NOT NULL DEFAULT CURRENT_TIMESTAMP)"
    ),
}


def ceiling_table_create() -> None:
    """Create the `bench_ceiling` table when missing (PostgreSQL or SQLite)."""
    with connection.cursor() as cursor:
        cursor.execute(_DDL[connection.vendor])


def ceiling_row_count() -> int:
    """Rows the ceiling view has inserted so far."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE}")  # noqa: S608 (constant)
        return cursor.fetchone()[0]


def ceiling_table_clear() -> None:
    """Delete every row (between runs, so tables stay small and comparable)."""
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {TABLE}")  # noqa: S608 (constant)


@csrf_exempt
def ceiling(request: HttpRequest) -> HttpResponse:
    """Insert the JSON body as one row; 200 `{"status": "accepted"}`, 400 when
    the body is not JSON, 405 for anything but POST."""
    if request.method != "POST":
        return JsonResponse({"detail": "Method not allowed."}, status=405)
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"detail": "Body is not JSON."}, status=400)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (body) VALUES (%s)",  # noqa: S608 (constant)
            [json.dumps(body)],
        )
    return JsonResponse({"status": "accepted"})

"""The restore drill of docs/scaling.md ("Backups and a restore drill") on a
small data set: `pg_dump` the test database holding a few conversations,
`pg_restore` it into a fresh database, and find the same rows there, with
the search triggers that migrations installed still working."""

from __future__ import annotations

import os
import shutil
import subprocess

import psycopg
import pytest
from django.db import connection

from billing.tests.factories import BusinessFactory
from conversations.tests.factories import (
    ConversationFactory,
    MessageFactory,
    ReplyFactory,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TABLES = [
    "billing_business",
    "channels_app_channel",
    "conversations_contact",
    "conversations_conversation",
    "conversations_message",
    "django_migrations",
]


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("pg_dump", "pg_restore")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = (
            f"{', '.join(missing)} not installed (apt-get install postgresql-client)"
        )
        if os.environ.get("PINGBACK_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def _connect(dbname: str, **options) -> psycopg.Connection:
    db = connection.settings_dict
    return psycopg.connect(
        dbname=dbname,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        **options,
    )


def _counts(dbname: str) -> dict[str, int]:
    with _connect(dbname) as conn:
        return {
            table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            for table in TABLES
        }


def _libpq_env() -> dict[str, str]:
    db = connection.settings_dict
    env = {**os.environ, "PGHOST": db["HOST"] or "127.0.0.1"}
    env["PGPORT"] = str(db["PORT"] or 5432)
    if db["USER"]:
        env["PGUSER"] = db["USER"]
    if db["PASSWORD"]:
        env["PGPASSWORD"] = db["PASSWORD"]
    return env


def test_a_dump_restores_into_a_fresh_database_with_every_row(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the drill is for PostgreSQL (pg_dump, pg_restore)")
    tools = _tools()
    business = BusinessFactory()
    for index in range(3):
        conversation = ConversationFactory(business=business)
        MessageFactory.create_batch(4, conversation=conversation)
        ReplyFactory(conversation=conversation, text=f"Refund sent {index}")
    source = connection.settings_dict["NAME"]
    restored = f"{source}_restore"
    dump = tmp_path / "pingback.dump"
    env = _libpq_env()

    subprocess.run(
        [tools["pg_dump"], "--format=custom", "--no-owner", f"--file={dump}", source],
        env=env,
        check=True,
        capture_output=True,
    )
    with _connect("postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{restored}"')
        admin.execute(f'CREATE DATABASE "{restored}"')
    try:
        subprocess.run(
            [
                tools["pg_restore"],
                "--no-owner",
                "--exit-on-error",
                f"--dbname={restored}",
                str(dump),
            ],
            env=env,
            check=True,
            capture_output=True,
        )

        expected = _counts(source)
        assert expected["conversations_message"] == 15
        assert _counts(restored) == expected
        with _connect(restored) as conn:
            # The rows themselves, and the search trigger restored with them:
            # a message's words are searchable in the restored database.
            found = conn.execute(
                "SELECT text FROM conversations_message "
                "WHERE search_vector @@ plainto_tsquery('simple', 'refund') "
                "ORDER BY text"
            ).fetchall()
            assert [text for (text,) in found] == [
                "Refund sent 0",
                "Refund sent 1",
                "Refund sent 2",
            ]
            conn.execute(
                "UPDATE conversations_message SET text = 'zanzibar' "
                "WHERE text = 'Refund sent 0'"
            )
            assert conn.execute(
                "SELECT count(*) FROM conversations_message "
                "WHERE search_vector @@ plainto_tsquery('simple', 'zanzibar')"
            ).fetchone() == (1,)
    finally:
        with _connect("postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')

"""Search (docs/search.md).

Everywhere: contacts' `search_text` filled for contacts stored before it
existed, and (state only) `MessageSearch` and `ConversationSearch`, Django's
read-only view of the columns below.

PostgreSQL only (skipped on other databases): `conversations_message`
gains `search_vector` (tsvector) and `business_id`, `conversations_
conversation` gains `search_vector`; triggers keep them in the business's
`search_language` (a message's text, except activity entries; a
conversation's subject); GIN indexes on both vectors, an index on a
business's messages newest first; the `pg_trgm` extension and a trigram
index on `conversations_contact.search_text`; and the backfill of rows
stored before, in batches.
"""

import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

BACKFILL_BATCH = 5000

# Texts longer than this are indexed by their start: a tsvector holds at
# most 1 MB, and an insert must never fail on a long e-mail.
PG_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Not Django fields (see `conversations.models.MessageSearch`): the
    # database fills them on every insert.
    "ALTER TABLE conversations_message ADD COLUMN search_vector tsvector, "
    "ADD COLUMN business_id uuid",
    "ALTER TABLE conversations_conversation ADD COLUMN search_vector tsvector",
    # The business's configuration, `simple` when the name is not one
    # PostgreSQL knows (a typo must not make inserts fail). Declared
    # IMMUTABLE (configurations are created once, never renamed) so that
    # the planner folds a search's `to_tsquery(pingback_search_config('x'),
    # ...)` to a constant and estimates it from the column's statistics: a
    # rare word reads the GIN index, a common one walks the ids.
    """
    CREATE OR REPLACE FUNCTION pingback_search_config(language text)
    RETURNS regconfig LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
      SELECT COALESCE(
        (SELECT c.oid::regconfig FROM pg_catalog.pg_ts_config c
         WHERE c.cfgname = language LIMIT 1),
        'simple'::regconfig)
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION conversations_message_search_vector()
    RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      language text;
    BEGIN
      SELECT c.business_id, b.search_language INTO NEW.business_id, language
      FROM conversations_conversation c
      JOIN billing_business b ON b.id = c.business_id
      WHERE c.id = NEW.conversation_id;
      IF NEW.kind = 'activity' OR COALESCE(NEW.text, '') = '' THEN
        NEW.search_vector := NULL;
      ELSE
        NEW.search_vector := to_tsvector(
          pingback_search_config(language), left(NEW.text, 100000));
      END IF;
      RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER conversations_message_search_vector
    BEFORE INSERT OR UPDATE OF text, kind, conversation_id
    ON conversations_message
    FOR EACH ROW EXECUTE FUNCTION conversations_message_search_vector()
    """,
    """
    CREATE OR REPLACE FUNCTION conversations_conversation_search_vector()
    RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF COALESCE(NEW.subject, '') = '' THEN
        NEW.search_vector := NULL;
      ELSE
        NEW.search_vector := to_tsvector(
          pingback_search_config((
            SELECT b.search_language FROM billing_business b
            WHERE b.id = NEW.business_id)),
          NEW.subject);
      END IF;
      RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER conversations_conversation_search_vector
    BEFORE INSERT OR UPDATE OF subject, business_id
    ON conversations_conversation
    FOR EACH ROW EXECUTE FUNCTION conversations_conversation_search_vector()
    """,
    "CREATE INDEX IF NOT EXISTS msg_search_idx ON conversations_message "
    "USING gin (search_vector)",
    # Finer word statistics (the default keeps ~1,000 words): with them the
    # planner sees a rare word as rare (reads the GIN index: 1.5 ms at
    # 1,000,000 messages) where it guessed 0.5 % of the rows and walked the
    # ids (290 ms).
    "ALTER TABLE conversations_message ALTER COLUMN search_vector "
    "SET STATISTICS 1000",
    # Search: a business's messages, newest first.
    "CREATE INDEX IF NOT EXISTS msg_business_idx ON conversations_message "
    "(business_id, id DESC)",
    "CREATE INDEX IF NOT EXISTS conv_search_idx ON conversations_conversation "
    "USING gin (search_vector)",
    "CREATE INDEX IF NOT EXISTS contact_search_trgm_idx ON conversations_contact "
    "USING gin (search_text gin_trgm_ops)",
]

PG_REVERSE = [
    "DROP INDEX IF EXISTS contact_search_trgm_idx",
    "DROP INDEX IF EXISTS conv_search_idx",
    "DROP INDEX IF EXISTS msg_search_idx",
    "DROP TRIGGER IF EXISTS conversations_conversation_search_vector "
    "ON conversations_conversation",
    "DROP FUNCTION IF EXISTS conversations_conversation_search_vector()",
    "DROP TRIGGER IF EXISTS conversations_message_search_vector "
    "ON conversations_message",
    "DROP FUNCTION IF EXISTS conversations_message_search_vector()",
    "DROP FUNCTION IF EXISTS pingback_search_config(text)",
    "DROP INDEX IF EXISTS msg_business_idx",
    "ALTER TABLE conversations_message DROP COLUMN IF EXISTS search_vector, "
    "DROP COLUMN IF EXISTS business_id",
    "ALTER TABLE conversations_conversation DROP COLUMN IF EXISTS search_vector",
]

# Rows stored before the triggers: touching a watched column runs the
# trigger. Each statement does one batch after id %s and returns its last id.
BACKFILL = [
    """
    WITH batch AS (
      SELECT id FROM conversations_message WHERE id > %s ORDER BY id LIMIT %s
    ), touched AS (
      UPDATE conversations_message m SET kind = m.kind
      FROM batch WHERE m.id = batch.id RETURNING m.id
    )
    SELECT max(id) FROM touched
    """,
    """
    WITH batch AS (
      SELECT id FROM conversations_conversation
      WHERE id > %s AND subject <> '' ORDER BY id LIMIT %s
    ), touched AS (
      UPDATE conversations_conversation c SET subject = c.subject
      FROM batch WHERE c.id = batch.id RETURNING c.id
    )
    SELECT max(id) FROM touched
    """,
]


def postgresql_forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in PG_FORWARD:
            cursor.execute(statement)
        for sql in BACKFILL:
            last = 0
            while True:
                cursor.execute(sql, [last, BACKFILL_BATCH])
                row = cursor.fetchone()
                if row is None or row[0] is None:
                    break
                last = row[0]


def postgresql_reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in PG_REVERSE:
            cursor.execute(statement)


def contacts_search_text_fill(apps, schema_editor):
    """Contacts stored before `search_text` existed: name, e-mails, phones,
    handles and ids (as `contacts.search_text.search_text_for` writes it)."""
    from contacts.search_text import search_text_for

    Contact = apps.get_model("conversations", "Contact")
    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    ContactEmail = apps.get_model("contacts", "ContactEmail")
    ContactPhone = apps.get_model("contacts", "ContactPhone")
    last = 0
    while True:
        contacts = list(
            Contact.objects.filter(
                pk__gt=last, search_text="", erased_at__isnull=True
            ).order_by("pk")[:BACKFILL_BATCH]
        )
        if not contacts:
            break
        last = contacts[-1].pk
        ids = [contact.pk for contact in contacts]
        emails, phones, identities = {}, {}, {}
        for chunk in range(0, len(ids), 900):
            part = ids[chunk : chunk + 900]
            for contact_id, address in ContactEmail.objects.filter(
                contact_id__in=part
            ).values_list("contact_id", "address"):
                emails.setdefault(contact_id, []).append(address)
            for contact_id, number in ContactPhone.objects.filter(
                contact_id__in=part
            ).values_list("contact_id", "number"):
                phones.setdefault(contact_id, []).append(number)
            for contact_id, handle, external_id in ContactIdentity.objects.filter(
                contact_id__in=part
            ).values_list("contact_id", "handle", "external_id"):
                identities.setdefault(contact_id, []).append((handle, external_id))
        changed = []
        for contact in contacts:
            contact.search_text = search_text_for(
                name=contact.name,
                company=contact.company,
                emails=emails.get(contact.pk, ()),
                phones=phones.get(contact.pk, ()),
                identities=identities.get(contact.pk, ()),
            )
            if contact.search_text:
                changed.append(contact)
        Contact.objects.bulk_update(changed, ["search_text"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0012_contact_details"),
        ("contacts", "0001_initial"),
    ]

    operations = [
        # What Django knows of the PostgreSQL-only columns: read-only views
        # of the two tables (no table of their own).
        migrations.CreateModel(
            name="MessageSearch",
            fields=[
                (
                    "message",
                    models.OneToOneField(
                        db_column="id",
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="conversations.message",
                    ),
                ),
                ("kind", models.CharField(max_length=16)),
                ("sent_at", models.DateTimeField()),
                (
                    "search_vector",
                    django.contrib.postgres.search.SearchVectorField(null=True),
                ),
                (
                    "business",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="billing.business",
                    ),
                ),
                (
                    "conversation",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="conversations.conversation",
                    ),
                ),
            ],
            options={"db_table": "conversations_message", "managed": False},
        ),
        migrations.CreateModel(
            name="ConversationSearch",
            fields=[
                (
                    "conversation",
                    models.OneToOneField(
                        db_column="id",
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="conversations.conversation",
                    ),
                ),
                (
                    "search_vector",
                    django.contrib.postgres.search.SearchVectorField(null=True),
                ),
                (
                    "business",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="billing.business",
                    ),
                ),
            ],
            options={"db_table": "conversations_conversation", "managed": False},
        ),
        migrations.RunPython(contacts_search_text_fill, migrations.RunPython.noop),
        migrations.RunPython(postgresql_forward, postgresql_reverse),
    ]

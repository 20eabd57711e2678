"""Give activity entries stored as English sentences their kind and
parameters (`conversations.activity`), so they too are shown in the reader's
language.

Only sentences PingBack wrote and whose parameters can be read back without
guessing are converted: status changes, assignments, teams, labels,
reopenings, erasures, merges and satisfaction entries. Snoozes with a time
(the year is not in the sentence), automation rule runs and anything else
keep only their text, which is shown as stored. The text itself is left as
it is. Reversing removes the kinds again (the text was kept)."""

from __future__ import annotations

import re

from django.db import migrations

BATCH = 1000

_ACTOR = r"(?P<actor>.+?)"
# Most specific first: "… to team X" before "… to X".
PATTERNS = [
    (re.compile(r"^Reopened by the customer$"), "customer_reopened"),
    (re.compile(r"^Reopened: the snooze ended$"), "snooze_ended"),
    (
        re.compile(r"^PingBack asked the customer to rate this conversation$"),
        "csat_asked",
    ),
    (
        re.compile(r"^PingBack did not ask the customer for a rating: (?P<reason>.+)$"),
        "csat_skipped",
    ),
    (
        re.compile(
            r"^The customer rated this conversation (?P<score>[1-5])/5"
            r"(?P<comment> and left a comment \(in the customer panel\))?$"
        ),
        "csat_rated",
    ),
    (
        re.compile(
            r"^PingBack assigned this conversation to (?P<agent>.+) "
            r"\(auto-assignment\)$"
        ),
        "auto_assigned",
    ),
    (re.compile(rf"^{_ACTOR} reopened this conversation$"), "reopened"),
    (re.compile(rf"^{_ACTOR} marked this conversation as pending$"), "pending"),
    (re.compile(rf"^{_ACTOR} resolved this conversation$"), "resolved"),
    (
        re.compile(r"^Snoozed until the customer answers by (?P<actor>.+)$"),
        "snoozed_until_reply",
    ),
    (
        re.compile(rf"^{_ACTOR} assigned this conversation to themselves$"),
        "assigned_self",
    ),
    (
        re.compile(rf"^{_ACTOR} assigned this conversation to team (?P<team>.+)$"),
        "team_assigned",
    ),
    (
        re.compile(rf"^{_ACTOR} removed this conversation from team (?P<team>.+)$"),
        "team_removed",
    ),
    (
        re.compile(rf"^{_ACTOR} assigned this conversation to (?P<agent>.+)$"),
        "assigned",
    ),
    (re.compile(rf"^{_ACTOR} unassigned (?P<agent>.+)$"), "unassigned"),
    (re.compile(rf"^{_ACTOR} added label (?P<label>.+)$"), "label_added"),
    (re.compile(rf"^{_ACTOR} removed label (?P<label>.+)$"), "label_removed"),
    (re.compile(rf"^{_ACTOR} erased this contact's data\.$"), "contact_erased"),
    (
        re.compile(rf"^{_ACTOR} merged (?P<other>.+) into (?P<kept>.+)$"),
        "contacts_merged",
    ),
]


def kind_of(text: str) -> tuple[str, dict] | None:
    """(kind, params) of an English activity sentence, or None (an
    automation rule's run, whose steps may read like other sentences, is
    never converted)."""
    if "\n" in text or text.startswith("Automation rule “"):
        return None
    for pattern, kind in PATTERNS:
        found = pattern.match(text)
        if found is None:
            continue
        params = {k: v for k, v in found.groupdict().items() if v is not None}
        if kind == "csat_rated":
            params = {"score": int(params["score"]), "comment": "comment" in params}
        return kind, params
    return None


def forwards(apps, schema_editor) -> None:
    Message = apps.get_model("conversations", "Message")
    rows = (
        Message.objects.filter(kind="activity")
        .exclude(details__has_key="activity")
        .only("pk", "text", "details")
        .order_by("pk")
    )
    changed = []
    for message in rows.iterator(chunk_size=BATCH):
        details = message.details if isinstance(message.details, dict) else {}
        found = None if "automation_rule_id" in details else kind_of(message.text)
        if found is None:
            continue
        message.details = {**details, "activity": found[0], "params": found[1]}
        changed.append(message)
        if len(changed) >= BATCH:
            Message.objects.bulk_update(changed, ["details"])
            changed = []
    if changed:
        Message.objects.bulk_update(changed, ["details"])


def backwards(apps, schema_editor) -> None:
    Message = apps.get_model("conversations", "Message")
    rows = Message.objects.filter(kind="activity", details__has_key="activity")
    changed = []
    for message in rows.only("pk", "details").iterator(chunk_size=BATCH):
        message.details = {
            k: v for k, v in message.details.items() if k not in ("activity", "params")
        }
        changed.append(message)
        if len(changed) >= BATCH:
            Message.objects.bulk_update(changed, ["details"])
            changed = []
    if changed:
        Message.objects.bulk_update(changed, ["details"])


class Migration(migrations.Migration):
    dependencies = [("conversations", "0019_conversation_priority")]

    operations = [migrations.RunPython(forwards, backwards, elidable=True)]

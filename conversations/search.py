"""Search: conversations by their messages and subject, contacts by their
details (docs/search.md).

Tenant-scoped at the query: every function takes the business and never
reads another's rows.

PostgreSQL: a message's words are in `conversations_message.search_vector`
and an e-mail subject's in `conversations_conversation.search_vector`
(tsvector columns, read through `MessageSearch` and `ConversationSearch`,
kept by triggers in the business's `search_language`, GIN-indexed;
migration 0013), a contact's details in `Contact.search_text` (trigram GIN
index). Elsewhere (SQLite) the same questions are asked with `icontains`,
one condition per word.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from django.contrib.postgres.search import SearchHeadline, SearchQuery
from django.db import connection
from django.db.models import Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.utils.safestring import SafeString, mark_safe

from billing.models import Business
from contacts.phones import phone_e164
from conversations.models import (
    Contact,
    Conversation,
    ConversationLabel,
    ConversationSearch,
    Message,
    MessageSearch,
)

MAX_QUERY_LENGTH = 200
# Matching messages read per page (this many per conversation shown),
# newest first; the page shows the conversations they belong to (each once,
# at its newest match).
HIT_WINDOW_PER_ROW = 4
# `?q=` on the list: up to this many conversation ids are read first (a rare
# word's, through the GIN index); past it, each listed row is checked instead.
PROBE = 1000
DEFAULT_LIMIT = 25
MAX_LIMIT = 50
CONTACT_LIMIT = 10
# Characters of a snippet around the first match.
SNIPPET_BEFORE = 80
SNIPPET_LENGTH = 240
_START, _STOP = "\ue000", "\ue001"  # private-use: never in stored text we mark
# `ts_headline` drops what looks like an HTML tag: `<` and `>` go in as
# these (non-word characters too, so words split the same) and come back.
_LT, _GT = "\ue002", "\ue003"
_WORD = re.compile(r"\w+", re.UNICODE)


class SearchQueryInvalid(ValueError):
    """`q` is empty (no word to look for) or longer than `MAX_QUERY_LENGTH`."""


@dataclass(frozen=True)
class SearchFilters:
    """The inbox filters a search combines with (all optional, all combine):
    `channel_type`, `channel_id` (UUID), `status`, `assignee_id` (a user id
    or `"none"`), `team_id` (a team id or `"none"`), `label_id`, and a date
    range on the matching message's `sent_at` (the conversation's
    `last_message_at` for subject matches): `since` (inclusive) and `until`
    (exclusive), aware datetimes."""

    channel_type: str | None = None
    channel_id: object | None = None
    status: str | None = None
    assignee_id: int | Literal["none"] | None = None
    team_id: int | Literal["none"] | None = None
    label_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass
class Match:
    """Why a conversation is in the results: a message (`message_id`,
    `kind` message/note/template/..., `direction`, `sent_at`) or its subject
    (`kind="subject"`, no message). `highlight` is HTML: the text escaped,
    the matched words in `<mark>`, cut to a snippet around the first."""

    message_id: int | None
    kind: str
    direction: str | None
    sent_at: datetime
    highlight: SafeString


@dataclass
class ConversationResult:
    conversation: Conversation
    match: Match


@dataclass
class SearchResults:
    """`conversations`: newest match first, each conversation once;
    `contacts`: newest first; `next_before`: the `before` of the next page
    of conversations (None when this is the last)."""

    conversations: list[ConversationResult] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    next_before: int | None = None


def search_words(q: str) -> list[str]:
    """The words of `q` (letters, digits and `_`), lower-cased, in order."""
    return _WORD.findall((q or "").lower())


def query_cleaned(q: str | None) -> str:
    """`q` stripped; raises `SearchQueryInvalid` when it holds no word or is
    longer than `MAX_QUERY_LENGTH` characters."""
    q = (q or "").strip()
    if len(q) > MAX_QUERY_LENGTH:
        raise SearchQueryInvalid(
            f"Enter at most {MAX_QUERY_LENGTH} characters (this has {len(q)})."
        )
    if not search_words(q):
        raise SearchQueryInvalid("Enter a word to search for.")
    return q


def _postgresql() -> bool:
    return connection.vendor == "postgresql"


def _tsquery(words: list[str]) -> str:
    """A `to_tsquery` text: every word required, each as the business's
    language reads it. Whole words only: the planner has no statistics for
    a prefix (`word:*`), guesses 2 % of the rows and walks the whole table
    for a rare one (measured: 5 s at 1,000,000 messages); names and handles
    match by prefix through the contacts' trigram index instead."""
    return " & ".join(f"'{word}'" for word in words)


def _search_query(business: Business, words: list[str]) -> SearchQuery:
    return SearchQuery(_tsquery(words), config=_config(business), search_type="raw")


def _config(business: Business):
    """The text search configuration as the triggers pick it
    (`pingback_search_config`: `simple` for a name PostgreSQL does not
    know)."""
    from django.db.models import Func, TextField, Value

    return Func(
        Value(business.search_language),
        function="pingback_search_config",
        output_field=TextField(),
    )


def _conversation_filters(filters: SearchFilters, prefix: str = "") -> Q:
    """`filters` as a condition on conversations (through `prefix`, e.g.
    `conversation__` from messages); the date range is not included."""
    condition = Q()
    if filters.channel_type:
        condition &= Q(**{f"{prefix}channel_type": filters.channel_type})
    if filters.channel_id:
        condition &= Q(**{f"{prefix}channel_id": filters.channel_id})
    if filters.status:
        condition &= Q(**{f"{prefix}status": filters.status})
    if filters.assignee_id == "none":
        condition &= Q(**{f"{prefix}assignee__isnull": True})
    elif filters.assignee_id is not None:
        condition &= Q(**{f"{prefix}assignee_id": filters.assignee_id})
    if filters.team_id == "none":
        condition &= Q(**{f"{prefix}team__isnull": True})
    elif filters.team_id is not None:
        condition &= Q(**{f"{prefix}team_id": filters.team_id})
    if filters.label_id is not None:
        condition &= Q(
            Exists(
                ConversationLabel.objects.filter(
                    conversation_id=OuterRef("conversation_id" if prefix else "pk"),
                    label_id=filters.label_id,
                )
            )
        )
    return condition


def messages_matching(
    business: Business, q: str, filters: SearchFilters | None = None
) -> QuerySet:
    """The business's messages (inbound, outbound, templates and notes; never
    activity entries) holding every word of `q` (PostgreSQL: whole words as
    the business's `search_language` reads them; elsewhere: as substrings,
    ignoring case), in conversations matching `filters` and sent within its
    date range. Unordered. Rows with `pk`, `conversation_id`, `kind`,
    `sent_at`: on PostgreSQL `MessageSearch` rows (the business on the row,
    so a newest-first walk reads `msg_business_idx`), elsewhere `Message`
    rows (scoped through the conversation)."""
    filters = filters or SearchFilters()
    words = search_words(q)
    if _postgresql():
        messages = MessageSearch.objects.filter(business=business)
    else:
        messages = Message.objects.filter(conversation__business=business)
    messages = messages.filter(
        _conversation_filters(filters, "conversation__")
    ).exclude(kind=Message.ACTIVITY)
    if not words:
        return messages.none()
    if _postgresql():
        messages = messages.filter(search_vector=_search_query(business, words))
    else:
        for word in words:
            messages = messages.filter(text__icontains=word)
    if filters.since:
        messages = messages.filter(sent_at__gte=filters.since)
    if filters.until:
        messages = messages.filter(sent_at__lt=filters.until)
    return messages


def conversations_subject_matching(
    business: Business, q: str, filters: SearchFilters | None = None
) -> QuerySet[Conversation]:
    """The business's conversations whose subject holds every word of `q`
    (as `messages_matching` reads words), matching `filters` (the date range
    on `last_message_at`). Unordered."""
    filters = filters or SearchFilters()
    words = search_words(q)
    conversations = Conversation.objects.filter(
        _conversation_filters(filters), business=business
    ).exclude(subject="")
    if not words:
        return conversations.none()
    if _postgresql():
        conversations = conversations.filter(
            pk__in=ConversationSearch.objects.filter(
                business=business, search_vector=_search_query(business, words)
            ).values("pk")
        )
    else:
        for word in words:
            conversations = conversations.filter(subject__icontains=word)
    if filters.since:
        conversations = conversations.filter(last_message_at__gte=filters.since)
    if filters.until:
        conversations = conversations.filter(last_message_at__lt=filters.until)
    return conversations


def contacts_matching(business: Business, q: str) -> QuerySet[Contact]:
    """The business's contacts (not erased) whose name, company, e-mail
    address, phone number, handle or platform id contains every word of `q`
    (ignoring case), or whose phone number is `q` typed in any format
    (`00351 912 345 678`, `(415) 555-0100` read in the business's
    `default_country`: its E.164 form). Unordered; empty `q` matches all.
    On PostgreSQL the trigram index on `search_text` serves the match."""
    contacts = Contact.objects.filter(business=business, erased_at__isnull=True)
    words = q.strip().lower().split()
    if not words:
        return contacts
    condition = Q()
    for word in words:
        condition &= Q(search_text__contains=word)
    number = phone_e164(q, business.default_country)
    if number:
        condition |= Q(search_text__contains=number)
    return contacts.filter(condition)


def conversations_matching_q(business: Business, q: str) -> Q:
    """A condition on the business's conversations for the list's `?q=`:
    a message (as `messages_matching`), the subject or the contact (as
    `contacts_matching`) matches `q`.

    On PostgreSQL each of the three is probed first (one query each, at
    most `PROBE` + 1 rows): when fewer match (a rare word), the list reads
    those ids; when more do (a common word), the list checks each row it
    walks (`EXISTS` by the row's id), which finds its page quickly since
    matches are everywhere. An `IN` over a common word's 200,000 messages
    took 280 ms at 1,000,000 messages; this, under 30 ms."""
    messages = messages_matching(business, q)
    subjects = conversations_subject_matching(business, q)
    contacts = contacts_matching(business, q)
    if not _postgresql():
        return (
            Q(pk__in=messages.values("conversation_id"))
            | Q(pk__in=subjects.values("pk"))
            | Q(contact_id__in=contacts.values("pk"))
        )
    condition = Q()
    for probe, field_name, per_row in (
        (
            # Not distinct: the probe stops at the first `PROBE` + 1 rows.
            messages.values_list("conversation_id", flat=True),
            "pk",
            Exists(messages.filter(conversation_id=OuterRef("pk"))),
        ),
        (
            subjects.values_list("pk", flat=True),
            "pk",
            Exists(subjects.filter(pk=OuterRef("pk"))),
        ),
        (
            contacts.values_list("pk", flat=True),
            "contact_id",
            Exists(contacts.filter(pk=OuterRef("contact_id"))),
        ),
    ):
        ids = list(probe.order_by()[: PROBE + 1])
        if len(ids) > PROBE:
            condition |= Q(per_row)
        elif ids:
            condition |= Q(**{f"{field_name}__in": ids})
    return condition if condition else Q(pk__in=[])


def search(
    business: Business,
    q: str,
    filters: SearchFilters | None = None,
    *,
    limit: int = DEFAULT_LIMIT,
    before: int | None = None,
    contacts: bool = True,
) -> SearchResults:
    """Search the business for `q` (already `query_cleaned`).

    Conversations: those with a matching message, newest match first, each
    once at its newest match; the next page (`before`: a message id, from
    `next_before`) holds conversations whose matches are older (a
    conversation with older matches may show again there). A page reads
    the `HIT_WINDOW_PER_ROW` x `limit` newest matching messages: when they
    hold fewer conversations, the page is shorter and `next_before` goes on
    from the oldest of them. The first page (no `before`) also holds
    conversations whose e-mail subject matches, in time order with the
    others. Contacts (first page, `contacts=True`):
    the newest `CONTACT_LIMIT` of `contacts_matching`, each with
    `email_list` and `phone_list`.

    Three queries: the matching messages with their conversations, contacts
    and highlights, the subject matches, the contacts with their
    details."""
    filters = filters or SearchFilters()
    words = search_words(q)
    results = SearchResults()
    if not words:
        return results
    hits = _message_hits(business, q, words, filters, limit=limit, before=before)
    entries = [
        ConversationResult(
            conversation=hit.conversation,
            match=Match(
                message_id=hit.pk,
                kind=hit.kind,
                direction=hit.direction,
                sent_at=hit.sent_at,
                highlight=hit.highlight,
            ),
        )
        for hit in hits
    ]
    if len(hits) == limit:
        results.next_before = hits[-1].pk
    elif hits and hits[0].window_last is not None:
        results.next_before = hits[0].window_last
    if before is None:
        shown = {entry.conversation.pk for entry in entries}
        subject_entries = [
            entry
            for entry in _subject_hits(business, q, words, filters, limit=limit)
            if entry.conversation.pk not in shown
        ]
        if subject_entries:
            entries = sorted(
                entries + subject_entries,
                key=lambda entry: entry.match.sent_at,
                reverse=True,
            )[:limit]
            if len(entries) == limit and hits and entries[-1].match.message_id:
                results.next_before = min(
                    entry.match.message_id
                    for entry in entries
                    if entry.match.message_id is not None
                )
    results.conversations = entries
    if contacts and before is None:
        results.contacts = contacts_found(business, q)
    return results


def _message_hits(
    business: Business,
    q: str,
    words: list[str],
    filters: SearchFilters,
    *,
    limit: int,
    before: int | None,
) -> list[Message]:
    """Messages (with `conversation`, its `contact` and `contact_identity`
    joined, and `highlight`): each conversation's newest match among the
    `HIT_WINDOW_PER_ROW` x `limit` newest matching messages (with id <
    `before`), newest first, at most `limit`. One
    query: on PostgreSQL the window walks the primary key backwards checking
    the tsvector (a common word) or reads the GIN index (a rare one), and
    `ts_headline` runs on the returned rows only."""
    matching = messages_matching(business, q, filters)
    if before is not None:
        matching = matching.filter(pk__lt=before)
    size = HIT_WINDOW_PER_ROW * limit
    window = matching.order_by("-pk").values("pk")[:size]
    newest = (
        Message.objects.filter(pk__in=window)
        .values("conversation_id")
        .annotate(newest=Max("id"))
        .values("newest")
    )
    rows = (
        Message.objects.filter(pk__in=newest)
        .select_related("conversation__contact", "conversation__contact_identity")
        .defer(
            "html",
            "attachments",
            "template",
            *(["text"] if _postgresql() else []),
        )
        .order_by("-id")
        # The window's oldest match when it is full (null otherwise): where
        # the next page starts if this one shows fewer than `limit`
        # conversations (a word repeated in a few long ones).
        .annotate(
            window_last=Subquery(matching.order_by("-pk").values("pk")[size - 1 : size])
        )
    )
    if _postgresql():
        rows = rows.annotate(
            marked=SearchHeadline(
                _tags_hidden("text"),
                _search_query(business, words),
                config=_config(business),
                start_sel=_START,
                stop_sel=_STOP,
                max_words=30,
                min_words=12,
                short_word=1,
                highlight_all=False,
                max_fragments=1,
            )
        )
        hits = list(rows[:limit])
    else:
        hits = list(rows[:limit])
        for hit in hits:
            hit.marked = _mark_words(hit.text, words)
    for hit in hits:
        hit.highlight = highlight_html(hit.marked)
    return hits


def _subject_hits(
    business: Business,
    q: str,
    words: list[str],
    filters: SearchFilters,
    *,
    limit: int,
) -> list[ConversationResult]:
    conversations = (
        conversations_subject_matching(business, q, filters)
        .select_related("contact", "contact_identity")
        .order_by("-last_message_at", "-id")
    )
    if _postgresql():
        conversations = conversations.annotate(
            marked=SearchHeadline(
                _tags_hidden("subject"),
                _search_query(business, words),
                config=_config(business),
                start_sel=_START,
                stop_sel=_STOP,
                highlight_all=True,
            )
        )
    entries = []
    for conversation in conversations[:limit]:
        marked = (
            conversation.marked
            if _postgresql()
            else _mark_words(conversation.subject, words)
        )
        entries.append(
            ConversationResult(
                conversation=conversation,
                match=Match(
                    message_id=None,
                    kind="subject",
                    direction=None,
                    sent_at=conversation.last_message_at,
                    highlight=highlight_html(marked),
                ),
            )
        )
    return entries


def contacts_found(
    business: Business, q: str, *, limit: int = CONTACT_LIMIT
) -> list[Contact]:
    """The newest `limit` contacts `contacts_matching` `q`, each with
    `email_list` (addresses) and `phone_list` (E.164 numbers), gathered in
    the same query."""
    from contacts.models import ContactEmail, ContactPhone
    from conversations.selectors import _JSONArraySubquery

    emails = (
        ContactEmail.objects.filter(contact_id=OuterRef("pk"))
        .order_by("id")
        .values("address")
    )
    phones = (
        ContactPhone.objects.filter(contact_id=OuterRef("pk"))
        .order_by("id")
        .values("number")
    )
    contacts = contacts_matching(business, q).order_by("-id")
    if _postgresql():
        from django.contrib.postgres.expressions import ArraySubquery

        contacts = contacts.annotate(
            email_list=ArraySubquery(emails), phone_list=ArraySubquery(phones)
        )
    else:
        from django.db.models.functions import JSONObject

        contacts = contacts.annotate(
            email_list=_JSONArraySubquery(
                emails.values(json=JSONObject(value="address"))
            ),
            phone_list=_JSONArraySubquery(
                phones.values(json=JSONObject(value="number"))
            ),
        )
    found = list(contacts[:limit])
    if not _postgresql():
        for contact in found:
            contact.email_list = [row["value"] for row in contact.email_list]
            contact.phone_list = [row["value"] for row in contact.phone_list]
    return found


def _tags_hidden(field_name: str):
    from django.db.models import Value
    from django.db.models.functions import Replace

    return Replace(Replace(field_name, Value("<"), Value(_LT)), Value(">"), Value(_GT))


def _mark_words(text: str, words: list[str]) -> str:
    """`text` with each word holding a word of `words` (ignoring case)
    between the private markers `highlight_html` turns into `<mark>`."""
    text = (text or "").replace(_START, "").replace(_STOP, "")
    if not words:
        return text
    # The whole word around a match, as `ts_headline` marks it.
    pattern = re.compile(
        r"\w*(?:"
        + "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
        + r")\w*",
        re.IGNORECASE,
    )
    return pattern.sub(lambda found: f"{_START}{found.group(0)}{_STOP}", text)


def highlight_html(marked: str) -> SafeString:
    """HTML of a text whose matches are between the private markers: the
    text escaped, the matches in `<mark>`, cut to about `SNIPPET_LENGTH`
    characters around the first match (an ellipsis where cut)."""
    marked = (marked or "").replace(_LT, "<").replace(_GT, ">")
    first = marked.find(_START)
    start = max(0, first - SNIPPET_BEFORE) if first > 0 else 0
    end = start + SNIPPET_LENGTH
    snippet = marked[start:end]
    # A cut inside a match: close it.
    if snippet.count(_START) > snippet.count(_STOP):
        snippet += _STOP
    escaped = html.escape(snippet, quote=False)
    escaped = re.sub(
        f"{_START}([^{_START}{_STOP}]*){_STOP}", r"<mark>\1</mark>", escaped
    )
    escaped = escaped.replace(_START, "").replace(_STOP, "")
    if start > 0:
        escaped = "…" + escaped
    if end < len(marked):
        escaped += "…"
    return mark_safe(escaped)  # noqa: S308 (escaped above; only <mark> added)


def reindex_business(business_id, *, batch: int = 5000) -> int:
    """Recompute the search vectors of a business's messages and subjects
    (after its `search_language` changed): touches each row's watched
    column so the trigger runs, `batch` rows per statement, each batch in
    its own transaction. Idempotent; PostgreSQL only (elsewhere returns 0).
    Returns the rows touched."""
    from django.db import transaction

    if not _postgresql():
        return 0
    touched = 0
    for sql in _REINDEX:
        last = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [business_id, last, batch])
                count, last_id = cursor.fetchone()
            if not count:
                break
            touched += count
            last = last_id
    return touched


_REINDEX = (
    """
    WITH batch AS (
      SELECT m.id FROM conversations_message m
      JOIN conversations_conversation c ON c.id = m.conversation_id
      WHERE c.business_id = %s AND m.id > %s ORDER BY m.id LIMIT %s
    ), touched AS (
      UPDATE conversations_message m SET kind = m.kind
      FROM batch WHERE m.id = batch.id RETURNING m.id
    )
    SELECT count(*), max(id) FROM touched
    """,
    """
    WITH batch AS (
      SELECT id FROM conversations_conversation
      WHERE business_id = %s AND id > %s AND subject <> '' ORDER BY id LIMIT %s
    ), touched AS (
      UPDATE conversations_conversation c SET subject = c.subject
      FROM batch WHERE c.id = batch.id RETURNING c.id
    )
    SELECT count(*), max(id) FROM touched
    """,
)

"""The agent workspace page's list state: which view and filters the list
shows, read from the query string, so that every URL of the page (and every
partial it fetches) names the same list.

Query string (all optional):
    view      mine | unassigned | all (default) | mentions
    status    open (default) | pending | snoozed | resolved | "" (any)
    channel   a channel id (UUID) of the business
    channel_type  a channel type (x, telegram, ...)
    assignee  me | none | <user id>
    team      none | <team id>
    label     a label name

Unknown or foreign values are dropped (the list shows as if they were absent),
never an error: this is a page's address, which an agent may have edited by
hand.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, QuerySet, Window
from django.http import QueryDict
from django.utils.translation import pgettext_lazy

from billing.models import Business
from channels_app.models import Channel
from conversations.models import Conversation
from conversations.selectors import inbox_conversation_list
from workspace.models import Label, Team

VIEWS = (
    ("mine", pgettext_lazy("inbox view", "Mine")),
    ("unassigned", pgettext_lazy("inbox view", "Unassigned")),
    ("all", pgettext_lazy("inbox view", "All")),
    ("mentions", pgettext_lazy("inbox view", "Mentions")),
)
VIEW_NAMES = dict(VIEWS)
FILTER_KEYS = ("status", "channel", "channel_type", "assignee", "team", "label")
# The keys of a list's query string, in the one order the page writes them,
# so one list has one address (and a saved filter matches it).
QUERY_ORDER = ("view", *FILTER_KEYS)


@dataclass
class ListState:
    """The list's view and filters, cleaned. `query` is the canonical query
    string (without `?`), empty for the default list (All, open)."""

    view: str = "all"
    status: str | None = Conversation.Status.OPEN
    channel: Channel | None = None
    channel_type: str | None = None
    assignee: str | int | None = None
    team: Team | None = None
    no_team: bool = False
    label: Label | None = None
    query: str = ""
    params: dict[str, str] = field(default_factory=dict)

    def with_params(self, **changes: str | None) -> str:
        """The query string of this state with `changes` applied (None or ""
        removes a key; `status=""` keeps "any status")."""
        params = dict(self.params)
        for key, value in changes.items():
            if value is None or (value == "" and key != "status"):
                params.pop(key, None)
            else:
                params[key] = value
        return urlencode([(key, params[key]) for key in QUERY_ORDER if key in params])


def list_state(business: Business, query: QueryDict) -> ListState:
    """Clean the page's query string into a `ListState` (see the module
    docstring); at most three queries (channel, team, label), each only when
    that filter is given."""
    state = ListState()
    params: dict[str, str] = {}
    view = query.get("view", "all")
    if view in VIEW_NAMES and view != "all":
        state.view = view
        params["view"] = view
    if "status" in query:
        status = query.get("status", "")
        if status == "":
            state.status = None
            params["status"] = ""
        elif status in Conversation.Status.values:
            state.status = status
            if status != Conversation.Status.OPEN:
                params["status"] = status
    channel_id = query.get("channel", "")
    if channel_id:
        try:
            state.channel = Channel.objects.filter(
                business=business, pk=uuid.UUID(channel_id)
            ).first()
        except ValueError:
            state.channel = None
        if state.channel is not None:
            params["channel"] = str(state.channel.pk)
    channel_type = query.get("channel_type", "")
    if channel_type in Channel.Type.values:
        state.channel_type = channel_type
        params["channel_type"] = channel_type
    assignee = query.get("assignee", "")
    if assignee in ("me", "none"):
        state.assignee = assignee
    elif assignee.isdigit():
        state.assignee = int(assignee)
    if state.assignee is not None:
        params["assignee"] = str(state.assignee)
    team = query.get("team", "")
    if team == "none":
        state.no_team = True
        params["team"] = "none"
    elif team.isdigit():
        state.team = Team.objects.filter(business=business, pk=int(team)).first()
        if state.team is not None:
            params["team"] = str(state.team.pk)
    label = query.get("label", "")
    if label:
        state.label = Label.objects.filter(
            business=business, name__iexact=label
        ).first()
        if state.label is not None:
            params["label"] = state.label.name
    state.params = params
    state.query = state.with_params()
    return state


def list_conversations(
    business: Business, user, state: ListState
) -> QuerySet[Conversation]:
    """The conversations of the list `state` names, newest activity first, for
    agent `user` (`mine`, `assignee=me` and `mentions` are theirs); rows as
    `inbox_conversation_list` gives them (team joined, `label_rows`)."""
    conversations = inbox_conversation_list(
        business,
        channel_type=state.channel_type,
        status=state.status,
        team_id="none" if state.no_team else getattr(state.team, "pk", None),
        label_id=getattr(state.label, "pk", None),
        mentioned_user_id=user.pk if state.view == "mentions" else None,
    )
    if state.view == "mine":
        conversations = conversations.filter(assignee_id=user.pk)
    elif state.view == "unassigned":
        conversations = conversations.filter(assignee__isnull=True)
    if state.channel is not None:
        conversations = conversations.filter(channel_id=state.channel.pk)
    if state.assignee == "me":
        conversations = conversations.filter(assignee_id=user.pk)
    elif state.assignee == "none":
        conversations = conversations.filter(assignee__isnull=True)
    elif state.assignee is not None:
        conversations = conversations.filter(assignee_id=state.assignee)
    return conversations


def workspace_agents(business: Business) -> list:
    """The business's members' users, by name, each with `display_name` (full
    name, else username) and `initials`: who can be assigned. One query."""
    from django.contrib.auth import get_user_model

    users = list(
        get_user_model()
        .objects.filter(member__business=business)
        .order_by("first_name", "last_name", "username")
    )
    for user in users:
        user.display_name = user.get_full_name() or user.get_username()
        user.initials = initials(user.display_name)
    return users


def initials(name: str) -> str:
    """Up to two letters for an avatar: `Ana Silva` → `AS`, `ben` → `B`."""
    words = [word for word in name.replace("@", " ").split() if word[:1].isalnum()]
    return "".join(word[0] for word in words[:2]).upper() or "?"


def contact_other_conversations(
    conversation: Conversation, *, limit: int = 10
) -> list[Conversation]:
    """The contact's other conversations, on every channel, newest activity
    first (at most `limit`), each annotated with `others_total`: how many
    other conversations the contact has in all (a window over the same
    rows, so the count costs no query of its own). One query."""
    return list(
        Conversation.objects.filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .annotate(others_total=Window(Count("pk")))
        .order_by("-last_message_at", "-id")[:limit]
    )

"""The inbox's search box: `/inbox/search/` renders the results partial
(`_search_results.html`) that `static/inbox/search.js` puts in place of the
conversation list (docs/search.md)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from conversations.api.search import date_bound
from conversations.search import (
    SearchFilters,
    SearchQueryInvalid,
    query_cleaned,
    search,
)
from conversations.views import inbox_business
from conversations.workspace import ListState, list_state


def filters_of(state: ListState, user) -> SearchFilters:
    """The list's view and filters as search filters. The status applies
    only when the agent chose one (the list's default, open, does not: a
    search looks through resolved conversations too); the Mentions view
    narrows nothing."""
    assignee = state.assignee
    if state.view == "mine" or assignee == "me":
        assignee = user.pk
    elif state.view == "unassigned":
        assignee = "none"
    return SearchFilters(
        channel_type=state.channel_type,
        channel_id=state.channel.pk if state.channel else None,
        status=state.status if "status" in state.params else None,
        assignee_id=assignee,
        team_id="none" if state.no_team else getattr(state.team, "pk", None),
        label_id=getattr(state.label, "pk", None),
    )


@login_required
@require_GET
def inbox_search(request: HttpRequest) -> HttpResponse:
    """The results partial for `?q=` (1 to 200 characters), under the list's
    view and filters (the page's query string, see
    `conversations.workspace`), `since`/`until` (YYYY-MM-DD, inclusive, in
    the business's time zone) and `before` (the next page's cursor: only
    the conversation rows are rendered then). A bad `q` or date renders
    the partial with the reason, never an error page."""
    business = inbox_business(request)
    state = list_state(business, request.GET)
    context: dict = {"q": request.GET.get("q", ""), "error": ""}
    try:
        q = query_cleaned(context["q"])
        since = date_bound(request.GET.get("since", ""), business, end=False)
        until = date_bound(request.GET.get("until", ""), business, end=True)
    except (SearchQueryInvalid, ValueError) as error:
        context["error"] = str(error)
        return render(request, "conversations/_search_results.html", context)
    before = request.GET.get("before", "")
    before_id = int(before) if before.isdigit() and len(before) < 19 else None
    filters = filters_of(state, request.user)
    filters = SearchFilters(**{**filters.__dict__, "since": since, "until": until})
    results = search(business, q, filters, before=before_id)
    more_url = None
    if results.next_before is not None:
        params = request.GET.copy()
        params["before"] = str(results.next_before)
        more_url = f"{request.path}?{urlencode(list(params.items()))}"
    context.update(
        {
            "results": results,
            "more_url": more_url,
            "rows_only": before_id is not None,
            "list_query": state.query,
            "status_chosen": "status" in state.params,
        }
    )
    return render(request, "conversations/_search_results.html", context)

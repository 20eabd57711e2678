"""The public rating page (`/rate/<token>/`): a customer rates a resolved
conversation from the link PingBack sent them. No login: the signed token
is the key (`satisfaction.services.rating_request_from_token`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from pingback.errors import FieldInvalid
from satisfaction.models import SatisfactionRating
from satisfaction.selectors import SCORES
from satisfaction.services import (
    COMMENT_MAX_LENGTH,
    AlreadyRated,
    RatingLinkInvalid,
    rating_request_from_token,
    rating_submit,
)

TEMPLATE = "satisfaction/rate.html"


def _page(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    response = render(
        request,
        TEMPLATE,
        {"scores": SCORES, "comment_max_length": COMMENT_MAX_LENGTH, **context},
        status=status,
    )
    # The token is in the address: never sent to another site as a referrer
    # (`same-origin`: with `no-referrer` browsers send `Origin: null` on the
    # form's POST, which CSRF checking refuses), never cached, never indexed.
    response["Referrer-Policy"] = "same-origin"
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response


@require_http_methods(["GET", "POST"])
def rate_page(request: HttpRequest, token: str) -> HttpResponse:
    """GET: the form (a score 1 to 5 and an optional comment), or the thanks
    once rated. POST (`score`, `comment`; CSRF-checked): stores the rating
    and redirects to the thanks (303); a bad score or comment answers 400
    with the error beside its field and what was typed kept; a second rating
    answers 409. A forged, mistyped or expired token answers 404."""
    try:
        rating_request = rating_request_from_token(token)
    except RatingLinkInvalid as error:
        return _page(request, {"invalid": error.detail}, status=404)
    business_name = rating_request.business.name
    existing = SatisfactionRating.objects.filter(request=rating_request).first()
    context = {"business_name": business_name, "rating": existing}
    if request.method == "GET" or existing is not None:
        status = 409 if request.method == "POST" else 200
        return _page(request, context, status=status)
    values = {
        "score": request.POST.get("score", ""),
        "comment": request.POST.get("comment", ""),
    }
    try:
        rating_submit(
            request=rating_request, score=values["score"], comment=values["comment"]
        )
    except FieldInvalid as error:
        return _page(
            request,
            {**context, "values": values, "errors": {error.field: [error.detail]}},
            status=400,
        )
    except AlreadyRated:
        context["rating"] = SatisfactionRating.objects.filter(
            request=rating_request
        ).first()
        return _page(request, context, status=409)
    response = redirect(request.path)
    response.status_code = 303
    return response

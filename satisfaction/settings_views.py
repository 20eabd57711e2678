"""The customer satisfaction form of the business settings page
(`/settings/business/`, `form=csat`; `workspace.settings_views` calls these)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest
from django.utils.translation import gettext

from billing.models import Business
from pingback.errors import FieldInvalid
from satisfaction.services import (
    QUESTION_MAX_LENGTH,
    satisfaction_settings_get,
    satisfaction_settings_save,
)


def csat_stored(business: Business) -> dict[str, Any]:
    """The form as stored: `{enabled, question, errors, max_length}`."""
    stored = satisfaction_settings_get(business)
    return {
        "enabled": stored.enabled,
        "question": stored.question,
        "errors": {},
        "max_length": QUESTION_MAX_LENGTH,
    }


def csat_post(request: HttpRequest, business: Business, posted: str) -> dict | None:
    """Save the form (`csat_enabled` checkbox, `csat_question`): None when
    saved (with a message), else `{"csat": form}` with what was typed and the
    error beside `csat_question`."""
    enabled = request.POST.get("csat_enabled") == "on"
    question = request.POST.get("csat_question", "")
    try:
        satisfaction_settings_save(
            business=business, enabled=enabled, question=question
        )
    except FieldInvalid as error:
        return {
            "csat": {
                "enabled": enabled,
                "question": question,
                "errors": {"csat_question": [error.detail]},
                "max_length": QUESTION_MAX_LENGTH,
            }
        }
    flash.success(
        request,
        gettext("Satisfaction ratings on: customers are asked when you resolve.")
        if enabled
        else gettext("Satisfaction ratings off: customers are not asked."),
    )
    return None

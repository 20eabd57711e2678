"""Reads about businesses, plans and API tokens."""

from django.db.models import QuerySet

from billing.models import ApiToken, Business, Member
from billing.plans import PLAN_LIMITS, PlanLimits


def plan_limits_get(business: Business) -> PlanLimits:
    """Return what `business`'s plan allows (channel count and types)."""
    return PLAN_LIMITS[business.plan]


def api_token_list(member: Member) -> QuerySet[ApiToken]:
    """`member`'s own API tokens, newest first (revoked ones included)."""
    return ApiToken.objects.filter(member=member).order_by("-created_at", "-id")


def api_token_get(member: Member, token_id: int) -> ApiToken:
    """One of `member`'s own tokens; raises `ApiToken.DoesNotExist` for an
    unknown id and for another member's token alike (never telling them apart)."""
    return api_token_list(member).get(pk=token_id)


def api_token_find_by_prefix(prefix: str) -> list[ApiToken]:
    """The tokens (of any member) whose stored prefix is `prefix` (operators'
    tools: `manage.py revoke_api_token`). Usually one; more if two tokens
    happen to share their first characters."""
    return list(
        ApiToken.objects.select_related("member__user").filter(prefix=prefix)[:10]
    )


def search_languages() -> list[str]:
    """The text search configurations a business may search in, by name:
    those PostgreSQL has (`pg_ts_config`: simple, english, portuguese, ...);
    `["simple"]` on other databases, where search matches substrings."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return ["simple"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT cfgname FROM pg_ts_config ORDER BY cfgname")
        return [name for (name,) in cursor.fetchall()]


def countries() -> list[tuple[str, str]]:
    """`(ISO 3166 code, "PT · +351")` of every region whose phone numbers
    `phonenumbers` can read, by code."""
    import phonenumbers

    return sorted(
        (
            region,
            f"{region} · +{phonenumbers.country_code_for_region(region)}",
        )
        for region in phonenumbers.SUPPORTED_REGIONS
    )

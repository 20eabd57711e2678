"""Reads about businesses, plans and API tokens."""

from dataclasses import dataclass

from django.db.models import QuerySet

from billing.models import ApiToken, Business, Member, Plan
from billing.plans import PLAN_LIMITS, PLAN_ORDER, PlanLimits, plans_allowing


def plan_limits_get(business: Business) -> PlanLimits:
    """Return what `business`'s plan allows (channel count and types)."""
    return PLAN_LIMITS[business.plan]


@dataclass(frozen=True)
class PlanRow:
    """One plan as the plan page lists it: `plan` (value, `mini`), `label`
    (`Mini`), `limits`, `current` (the business's own plan), `allows_more`
    (the business could add a channel under it)."""

    plan: str
    label: str
    limits: PlanLimits
    current: bool
    allows_more: bool


@dataclass(frozen=True)
class PlanUsage:
    """A business's plan and how much of it is used: `used` channels of
    `limits.max_channels`; `plans`, every plan cheapest first; `upgrade_to`,
    the plans (values) under which it could add a channel, its own excluded."""

    plan: str
    label: str
    limits: PlanLimits
    used: int
    plans: list[PlanRow]
    upgrade_to: list[str]

    @property
    def at_limit(self) -> bool:
        return self.used >= self.limits.max_channels


def plan_usage_get(business: Business) -> PlanUsage:
    """`business`'s plan, its channels counted (every channel, active or not,
    as the plan check counts them) and how every plan compares (one query)."""
    used = business.channels.count()
    more = plans_allowing(None, used)
    return PlanUsage(
        plan=business.plan,
        label=business.get_plan_display(),
        limits=plan_limits_get(business),
        used=used,
        plans=[
            PlanRow(
                plan=str(plan),
                label=Plan(plan).label,
                limits=PLAN_LIMITS[plan],
                current=plan == business.plan,
                allows_more=plan in more,
            )
            for plan in PLAN_ORDER
        ],
        upgrade_to=[plan for plan in more if plan != business.plan],
    )


def member_list(business: Business) -> list[Member]:
    """`business`'s members, admins first, then by name (or e-mail) ignoring
    case, each with its user (one query)."""
    members = list(Member.objects.filter(business=business).select_related("user"))
    return sorted(
        members,
        key=lambda m: (
            not m.is_admin,
            (m.user.get_full_name() or m.user.get_username()).casefold(),
            m.pk,
        ),
    )


def member_get(business: Business, member_id: int) -> Member:
    """One of `business`'s members with its user; raises `Member.DoesNotExist`
    for an unknown id and another business's member alike."""
    return Member.objects.select_related("user", "business").get(
        business=business, pk=member_id
    )


def member_open_conversation_count(member: Member) -> int:
    """Open, pending and snoozed conversations assigned to `member`: those
    deactivating them unassigns."""
    from conversations.models import Conversation

    return (
        Conversation.objects.filter(
            business_id=member.business_id, assignee_id=member.user_id
        )
        .exclude(status=Conversation.Status.RESOLVED)
        .count()
    )


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

"""Writes for businesses, members, tokens, and the plan guard."""

import logging
import zoneinfo
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from billing.models import ApiToken, Business, Member, Plan
from billing.selectors import plan_limits_get
from pingback.errors import FieldInvalid, PlanLimitExceeded

logger = logging.getLogger(__name__)


def plan_ensure_allows_channel(
    *, business: Business, channel_type: str, channel_count: int
) -> None:
    """Raise `PlanLimitExceeded` unless `business` may have one more channel of
    `channel_type` on top of `channel_count` channels it already has (not counting
    the one being changed, on an update)."""
    limits = plan_limits_get(business)
    plan = business.get_plan_display()
    if not limits.allows_type(channel_type):
        raise PlanLimitExceeded(
            f"The {plan} plan does not include {channel_type} channels; "
            "upgrade to Mini or Pro to add it."
        )
    if channel_count + 1 > limits.max_channels:
        raise PlanLimitExceeded(
            f"The {plan} plan allows {limits.max_channels} channel(s) and this "
            "business has reached that limit; upgrade to add more."
        )


def api_token_create(*, member: Member, name: str = "default") -> tuple[ApiToken, str]:
    """Create an API token for `member`; return it and the clear token, which is
    not stored and cannot be shown again."""
    token = ApiToken.generate()
    api_token = ApiToken.objects.create(
        member=member, name=name, prefix=token[:10], digest=ApiToken.hash(token)
    )
    logger.info(
        "api_token.created",
        extra={"token_id": api_token.pk, "member_id": member.pk},
    )
    return api_token, token


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke `token`: from now on every request that presents it answers 401.

    Idempotent: revoking a revoked token keeps its first `revoked_at`. Returns
    the token, refreshed. The row is kept (prefix, name, dates) so the member
    can still see it in `GET /api/v1/tokens/`.
    """
    now = timezone.now()
    updated = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now
    )
    token.refresh_from_db(fields=["revoked_at"])
    if updated:
        logger.info(
            "api_token.revoked",
            extra={"token_id": token.pk, "member_id": token.member_id},
        )
    return token


@dataclass(frozen=True)
class BusinessCreated:
    business: Business
    admin: Member
    token: str


@transaction.atomic
def business_create(
    *, name: str, plan: str, admin_email: str, admin_password: str | None = None
) -> BusinessCreated:
    """Create a business, its first admin (a Django user named by their e-mail, with
    staff access to Django admin) and that admin's API token.

    Raises `ValueError` for an unknown plan or an e-mail already in use.
    """
    if plan not in Plan.values:
        raise ValueError(f"unknown plan {plan!r}; expected one of {Plan.values}")
    user_model = get_user_model()
    if user_model.objects.filter(username=admin_email).exists():
        raise ValueError(f"a user {admin_email!r} already exists")
    business = Business.objects.create(name=name, plan=plan)
    user = user_model.objects.create_user(
        username=admin_email, email=admin_email, password=admin_password
    )
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    admin = Member.objects.create(user=user, business=business, role=Member.Role.ADMIN)
    _, token = api_token_create(member=admin)
    return BusinessCreated(business=business, admin=admin, token=token)


# Fields of `Business` its admins may change (`business_settings_update`).
BUSINESS_SETTINGS = ("name", "time_zone", "default_country", "search_language")


def business_settings_update(*, business: Business, **changes: str) -> Business:
    """Change `business`'s own settings: any of `name` (1 to 200 characters),
    `time_zone` (an IANA name: `Europe/Lisbon`), `default_country` (an ISO
    3166 code `phonenumbers` knows, `PT`; "" for none) and `search_language`
    (a text search configuration of `billing.selectors.search_languages`).

    Raises `FieldInvalid` naming the first field refused; nothing changes
    then. A new `search_language` queues `conversations.search_reindex`
    after the commit, so existing messages are found in it too (new ones
    are indexed in it at once). Returns the business as saved."""
    import phonenumbers

    from billing.selectors import search_languages

    values = {key: str(value).strip() for key, value in changes.items()}
    for key in values:
        if key not in BUSINESS_SETTINGS:
            raise FieldInvalid(key, "This setting does not exist.")
    if "name" in values and not 1 <= len(values["name"]) <= 200:
        raise FieldInvalid("name", "Give the business a name of 1 to 200 characters.")
    if "time_zone" in values:
        try:
            zoneinfo.ZoneInfo(values["time_zone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise FieldInvalid(
                "time_zone",
                f"“{values['time_zone']}” is not a time zone; use a name such "
                "as Europe/Lisbon or America/New_York.",
            ) from None
    if "default_country" in values:
        values["default_country"] = values["default_country"].upper()
        country = values["default_country"]
        if country and country not in phonenumbers.SUPPORTED_REGIONS:
            raise FieldInvalid(
                "default_country",
                f"“{country}” is not a country code; use two letters such as PT or US.",
            )
    if "search_language" in values:
        values["search_language"] = values["search_language"].lower()
        if values["search_language"] not in search_languages():
            raise FieldInvalid(
                "search_language",
                f"Search cannot use “{values['search_language']}”; choose one of: "
                f"{', '.join(search_languages())}.",
            )
    reindex = (
        "search_language" in values
        and values["search_language"] != business.search_language
    )
    with transaction.atomic():
        Business.objects.filter(pk=business.pk).update(**values)
        if reindex:
            transaction.on_commit(lambda: _search_reindex_queue(business.pk))
    for key, value in values.items():
        setattr(business, key, value)
    logger.info(
        "business.settings_updated",
        extra={"business_id": str(business.pk), "fields": sorted(values)},
    )
    return business


def _search_reindex_queue(business_id) -> None:
    from conversations.tasks import search_reindex

    search_reindex.delay(str(business_id))

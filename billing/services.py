"""Writes for businesses, members (invitations, roles, deactivation), tokens,
and the plan guard."""

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop, ngettext

from billing.models import ApiToken, Business, Invitation, Member, Plan
from billing.plans import plans_allowing
from billing.selectors import plan_limits_get
from pingback.errors import ApplicationError, FieldInvalid, PlanLimitExceeded

logger = logging.getLogger(__name__)


def plan_ensure_allows_channel(
    *, business: Business, channel_type: str, channel_count: int
) -> None:
    """Raise `PlanLimitExceeded` unless `business` may have one more channel of
    `channel_type` on top of `channel_count` channels it already has (not counting
    the one being changed, on an update). The error names the plan, its limit,
    the channels used and the plans that would allow it (`upgrade_to`)."""
    refusal = plan_channel_refusal(
        business=business, channel_type=channel_type, channel_count=channel_count
    )
    if refusal is not None:
        raise refusal


def plan_channel_refusal(
    *, business: Business, channel_type: str | None, channel_count: int
) -> PlanLimitExceeded | None:
    """Why `business` (with `channel_count` channels) may not add a channel of
    `channel_type` (None: of a type its plan includes), as the error
    `plan_ensure_allows_channel` raises; None when it may. The settings page
    for the plan shows the same sentence as the API's 402."""
    limits = plan_limits_get(business)
    plan = business.get_plan_display()
    fields = {
        "plan": business.plan,
        "limit": limits.max_channels,
        "used": channel_count,
    }
    if channel_type is not None and not limits.allows_type(channel_type):
        upgrade_to = plans_allowing(channel_type, channel_count)
        return PlanLimitExceeded(
            gettext(
                "The {plan} plan does not include {type} channels; {action}"
            ).format(
                plan=plan,
                type=channel_type,
                action=_upgrade_sentence(upgrade_to, gettext("to add it.")),
            ),
            upgrade_to=upgrade_to,
            channel_type=channel_type,
            **fields,
        )
    if channel_count + 1 > limits.max_channels:
        upgrade_to = plans_allowing(channel_type, channel_count)
        return PlanLimitExceeded(
            ngettext(
                "The {plan} plan allows {limit} channel and this business "
                "uses {used}; {action}",
                "The {plan} plan allows {limit} channels and this business "
                "uses {used}; {action}",
                limits.max_channels,
            ).format(
                plan=plan,
                limit=limits.max_channels,
                used=channel_count,
                action=_upgrade_sentence(upgrade_to, gettext("to add more.")),
            ),
            upgrade_to=upgrade_to,
            **fields,
        )
    return None


def _upgrade_sentence(upgrade_to: list[str], purpose: str) -> str:
    """`upgrade to Mini or Pro to add it.`, or, when no plan allows it,
    `no plan allows more: remove a channel first.`"""
    if not upgrade_to:
        return gettext("no plan allows more: remove a channel first.")
    names = [Plan(plan).label for plan in upgrade_to]
    listed = names[-1]
    if len(names) > 1:
        listed = gettext("{some} or {last}").format(
            some=", ".join(names[:-1]), last=names[-1]
        )
    return gettext("upgrade to {plans} {purpose}").format(plans=listed, purpose=purpose)


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
    are indexed in it at once). A new `time_zone` raises
    `hours_version` (business hours are in it) and queues the refresh of
    the reports' business-hours times after the commit. Returns the
    business as saved."""
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
        if "time_zone" in values:
            zone_before = (
                Business.objects.select_for_update()
                .filter(pk=business.pk)
                .values_list("time_zone", flat=True)
                .get()
            )
        Business.objects.filter(pk=business.pk).update(**values)
        if "time_zone" in values and values["time_zone"] != zone_before:
            # Business hours are in the time zone: they mean other moments.
            from reports.services import hours_version_bump

            hours_version_bump(business)
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


# ------------------------------------------------------------------ members

# How long an invitation link works.
INVITATION_TTL = timedelta(days=7)
# Open, pending and snoozed conversations: those a deactivated member leaves.
_UNFINISHED = ("open", "pending", "snoozed")


class LastAdmin(ApplicationError):
    """The change would leave the business without an active admin: HTTP 409."""

    status_code = 409
    code = "last_admin"


class InvitationInvalid(ApplicationError):
    """The invitation link is unknown, used, replaced, expired, or its member
    deactivated (one answer for all): HTTP 410."""

    status_code = 410
    code = "invitation_invalid"


INVITATION_INVALID = gettext_noop(
    "This invitation link does not work any more: it was used, replaced by a "
    "newer one, or has expired. Ask an admin of your business to send a new one."
)


def member_invite(
    *, business: Business, email: str, role: str, by: Member
) -> tuple[Invitation, str]:
    """Add `email` to `business` as a member with `role` (`admin` or `agent`)
    who has no password yet, and e-mail them a link (`invitation_url`) to set
    one; returns the invitation and its clear token (in the e-mail only).

    Raises `FieldInvalid` on `email` (not an address, longer than a login
    may be (150 characters), or already a PingBack account's) or `role`.
    The e-mail is sent once the member is stored; a mail server refusing it
    raises `OSError` / `smtplib.SMTPException` with the member kept (send
    again with `member_invite_resend`)."""
    email = (email or "").strip()
    try:
        validate_email(email)
    except DjangoValidationError:
        raise FieldInvalid("email", gettext("Enter an e-mail address.")) from None
    _role_check(role)
    user_model = get_user_model()
    longest = user_model._meta.get_field("username").max_length
    if len(email) > longest:
        raise FieldInvalid(
            "email",
            gettext("Use an e-mail address of at most {count} characters.").format(
                count=longest
            ),
        )
    with transaction.atomic():
        if user_model.objects.filter(username__iexact=email).exists():
            raise FieldInvalid(
                "email",
                gettext("This e-mail address already belongs to a PingBack account."),
            )
        user = user_model.objects.create_user(
            username=email, email=email, password=None
        )
        member = Member.objects.create(user=user, business=business, role=role)
        invitation, token = _invitation_create(member=member, by=by)
    logger.info(
        "member.invited",
        extra={"member_id": member.pk, "business_id": str(business.pk)},
    )
    _invitation_send(invitation, token)
    return invitation, token


def member_invite_resend(*, member: Member, by: Member) -> tuple[Invitation, str]:
    """E-mail `member` (who has not set a password yet) a new invitation link;
    the older links stop working. Raises `ApplicationError` when the member
    already has a password or is deactivated."""
    if member.state != "invited":
        raise ApplicationError(
            gettext("Only a member who has not set a password yet can be invited.")
        )
    with transaction.atomic():
        invitation, token = _invitation_create(member=member, by=by)
    _invitation_send(invitation, token)
    return invitation, token


def _invitation_create(*, member: Member, by: Member) -> tuple[Invitation, str]:
    now = timezone.now()
    Invitation.objects.filter(member=member, used_at__isnull=True).update(used_at=now)
    token = Invitation.generate()
    invitation = Invitation.objects.create(
        member=member,
        digest=Invitation.hash(token),
        invited_by=by,
        expires_at=now + INVITATION_TTL,
    )
    return invitation, token


def invitation_url(token: str) -> str:
    """The absolute link of an invitation (`PINGBACK_PUBLIC_BASE_URL`)."""
    return settings.PINGBACK_PUBLIC_BASE_URL.rstrip("/") + reverse(
        "invitation-link", args=[token]
    )


def _invitation_send(invitation: Invitation, token: str) -> None:
    member = invitation.member
    inviter = invitation.invited_by
    context = {
        "business": member.business.name,
        "inviter": (inviter.user.get_full_name() or inviter.user.get_username())
        if inviter
        else "",
        "url": invitation_url(token),
        "days": INVITATION_TTL.days,
    }
    send_mail(
        subject=render_to_string("billing/email/invitation_subject.txt", context)
        .strip()
        .replace("\n", " "),
        message=render_to_string("billing/email/invitation.txt", context),
        from_email=None,
        recipient_list=[member.user.email],
    )


def invitation_check(token: str) -> Invitation:
    """The invitation whose link holds `token`, if it still works; raises
    `InvitationInvalid` otherwise (unknown, used, replaced, expired, or the
    member deactivated)."""
    invitation = (
        Invitation.objects.select_related("member__user", "member__business")
        .filter(digest=Invitation.hash(token or ""))
        .first()
    )
    if (
        invitation is None
        or invitation.used_at is not None
        or invitation.expires_at <= timezone.now()
        or not invitation.member.user.is_active
    ):
        raise InvitationInvalid(gettext(INVITATION_INVALID))
    return invitation


def invitation_accept(*, token: str, password: str) -> Member:
    """Use the invitation: set its member's password (checked by Django's
    password validators) and spend the link. Returns the member, whose user
    the caller logs in.

    Raises `InvitationInvalid` (see `invitation_check`; also when two tabs
    use the link at once: only one succeeds) and `FieldInvalid` on
    `password` (nothing is spent then: the link still works)."""
    invitation = invitation_check(token)
    user = invitation.member.user
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise FieldInvalid("password", " ".join(error.messages)) from None
    with transaction.atomic():
        spent = Invitation.objects.filter(
            pk=invitation.pk, used_at__isnull=True, expires_at__gt=timezone.now()
        ).update(used_at=timezone.now())
        if not spent:
            raise InvitationInvalid(gettext(INVITATION_INVALID))
        user.set_password(password)
        user.save(update_fields=["password"])
    logger.info("member.invitation_accepted", extra={"member_id": invitation.member_id})
    return invitation.member


def _role_check(role: str) -> None:
    if role not in Member.Role.values:
        raise FieldInvalid(
            "role",
            gettext("Choose a role: {roles}.").format(
                roles=", ".join(Member.Role.values)
            ),
        )


def _keeps_an_admin(member: Member) -> None:
    """Raise `LastAdmin` when `member` is the business's only active admin
    (its admins' rows locked, so two admins demoting each other at once
    cannot both succeed)."""
    admins = list(
        Member.objects.select_for_update()
        .filter(business_id=member.business_id, role=Member.Role.ADMIN)
        .filter(user__is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if admins == [member.pk]:
        raise LastAdmin(
            gettext(
                "A business needs an active admin: make another member an admin first."
            )
        )


def member_role_change(*, member: Member, role: str, by: Member) -> Member:
    """Make `member` an `admin` or an `agent`. Raises `FieldInvalid` on `role`
    and `LastAdmin` when it would demote the only active admin. Returns the
    member as saved."""
    _role_check(role)
    with transaction.atomic():
        if member.is_admin and role != Member.Role.ADMIN:
            _keeps_an_admin(member)
        Member.objects.filter(pk=member.pk).update(role=role)
    member.role = role
    logger.info(
        "member.role_changed",
        extra={"member_id": member.pk, "role": role, "by_member_id": by.pk},
    )
    return member


def member_deactivate(*, member: Member, by: Member) -> int:
    """Stop `member` from working in the business: they can no longer log in
    (their open sessions end at their next request, and their open inbox
    pages stop receiving events at once), their API tokens are refused and
    their invitation links stop working. Their open, pending and snoozed
    conversations are unassigned as `by` does it in the inbox, each with an
    activity entry ("Ana unassigned Bob"). Idempotent.

    Returns how many conversations were unassigned. Raises `LastAdmin` for
    the business's only active admin."""
    from conversations import realtime
    from conversations.models import Conversation
    from conversations.services.conversations import (
        BULK_MAX,
        conversations_bulk_update,
    )

    user = member.user
    with transaction.atomic():
        if member.is_admin:
            _keeps_an_admin(member)
        type(user).objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        Invitation.objects.filter(member=member, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        realtime.publish_session_ended(user.pk)
        ids = list(
            Conversation.objects.filter(
                business_id=member.business_id,
                assignee_id=user.pk,
                status__in=_UNFINISHED,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for start in range(0, len(ids), BULK_MAX):
            conversations_bulk_update(
                business_id=member.business_id,
                ids=ids[start : start + BULK_MAX],
                by=by.user,
                unassign=True,
            )
    logger.info(
        "member.deactivated",
        extra={
            "member_id": member.pk,
            "by_member_id": by.pk,
            "conversation_count": len(ids),
        },
    )
    return len(ids)


def member_reactivate(*, member: Member, by: Member) -> Member:
    """Let a deactivated `member` log in (and use their tokens) again; their
    conversations stay with whoever has them now. Idempotent."""
    type(member.user).objects.filter(pk=member.user_id).update(is_active=True)
    member.user.is_active = True
    logger.info(
        "member.reactivated", extra={"member_id": member.pk, "by_member_id": by.pk}
    )
    return member


def member_language_set(*, member: Member, language: str) -> Member:
    """Set the language of `member`'s pages and messages: one of
    `settings.LANGUAGES`' codes, or "" for the browser's. Raises `FieldInvalid`
    on `language` for any other value."""
    language = (language or "").strip()
    if language and language not in dict(settings.LANGUAGES):
        raise FieldInvalid(
            "language",
            gettext("Choose one of the languages offered, or the browser's."),
        )
    if member.language != language:
        member.language = language
        member.save(update_fields=["language"])
    return member

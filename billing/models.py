"""The tenant (`Business`), its plan, its members and their API tokens."""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import pgettext_lazy


class Plan(models.TextChoices):
    FREE = "free", "Free"
    MINI = "mini", "Mini"
    PRO = "pro", "Pro"


class Business(models.Model):
    """A customer of PingBack: owns channels, contacts, conversations and members.

    `hours_version` counts the changes of what its business hours mean (its
    `workspace.OpeningInterval` rows replaced or removed, or `time_zone`
    changed), raised in the same transaction as the change
    (`workspace.services.business_hours_set`, `billing.services.
    business_settings_update`); 0 until hours are first set. Report events
    store the version their open seconds were worked out under
    (`reports.ConversationEvent.hours_version`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=16, choices=Plan.choices, default=Plan.FREE)
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        help_text="IANA time zone name (Europe/Lisbon): snooze presets such as "
        "'tomorrow 9:00' and business hours are in this zone.",
    )
    default_country = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO 3166 country code (PT, US): phone numbers written without "
        "a country code are read as this country's.",
    )
    search_language = models.CharField(
        max_length=32,
        default="simple",
        help_text="PostgreSQL text search configuration for message search "
        "(simple, english, portuguese, ...): `simple` matches words as written, "
        "so names and codes match; a language also matches other forms of a word.",
    )
    hours_version = models.PositiveIntegerField(
        default=0,
        help_text="Raised by one each time what the business hours mean changes "
        "(the hours set or removed, or the time zone changed): report events "
        "whose open seconds were worked out under an older version are "
        "recomputed (docs/reports.md).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "businesses"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A Django user's role in one business (a user belongs to one business)."""

    class Role(models.TextChoices):
        ADMIN = "admin", pgettext_lazy("member role", "Admin")
        AGENT = "agent", pgettext_lazy("member role", "Agent")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="member"
    )
    business = models.ForeignKey(
        Business, on_delete=models.CASCADE, related_name="members"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.AGENT)
    max_open_conversations = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Auto-assignment skips this agent while they have this many "
        "open conversations assigned (empty: no limit).",
    )
    last_assigned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When auto-assignment last gave this agent a conversation "
        "(round-robin order).",
    )
    notify_new_conversation = models.BooleanField(
        default=True, help_text="Browser notification for a new conversation."
    )
    notify_customer_reply = models.BooleanField(
        default=True,
        help_text="Browser notification for a customer reply in a conversation "
        "assigned to me.",
    )
    notify_mention = models.BooleanField(
        default=True, help_text="Browser notification when an agent mentions me."
    )
    notify_sound = models.BooleanField(
        default=False, help_text="Play a sound with each notification."
    )
    language = models.CharField(
        max_length=8,
        blank=True,
        default="",
        help_text="The language of this member's pages and messages, one of "
        "settings.LANGUAGES' codes (empty: the browser's).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} of {self.business})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN

    @property
    def state(self) -> str:
        """`deactivated` (may not log in nor use a token), `invited` (has no
        password yet: waits for their invitation) or `active`."""
        if not self.user.is_active:
            return "deactivated"
        if not self.user.has_usable_password():
            return "invited"
        return "active"


class ApiToken(models.Model):
    """A member's API token. Only its SHA-256 digest is stored; the clear token is
    shown once, when it is created (`billing.services.api_token_create`). A token
    with `revoked_at` set is refused at once (`billing.services.api_token_revoke`)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(
        max_length=12, help_text="First characters, to tell tokens apart."
    )
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(
        null=True, blank=True, help_text="When set, the token is refused."
    )

    PREFIX = "pb_"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.member.user})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @staticmethod
    def hash(token: str) -> str:
        """Return the hex SHA-256 digest under which `token` is stored."""
        return hashlib.sha256(token.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        """Return a new random clear-text token (`pb_` + 43 URL-safe characters)."""
        return cls.PREFIX + secrets.token_urlsafe(32)


class Invitation(models.Model):
    """A one-time link inviting `member` to set their password and log in.

    Only the SHA-256 digest of the link's token is stored; the clear token is
    in the e-mail alone (`billing.services.member_invite`). It works once
    (`used_at`), until `expires_at`, and only while the member is active;
    sending a new one makes the older ones stop working."""

    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, related_name="invitations"
    )
    digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(
        null=True, blank=True, help_text="When the link was used or replaced."
    )

    def __str__(self) -> str:
        return f"invitation of {self.member.user}"

    @staticmethod
    def hash(token: str) -> str:
        """Return the hex SHA-256 digest under which `token` is stored."""
        return hashlib.sha256(token.encode()).hexdigest()

    @staticmethod
    def generate() -> str:
        """Return a new random clear-text token (43 URL-safe characters)."""
        return secrets.token_urlsafe(32)

"""Domain errors, one small hierarchy mapped to HTTP in one place (`pingback.api`).

Services raise these; the API edge turns each into its status code and the shape
`{"detail": str, "code": str}`. Views never build error responses by hand.
"""


class ApplicationError(Exception):
    """A request the domain refuses. `status_code` is the HTTP status the API uses."""

    status_code = 400
    code = "invalid"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class PlanLimitExceeded(ApplicationError):
    """The business's plan does not allow this (channel type or count): HTTP 402.

    Besides `detail` it says what to do, in the API answer too: `plan` (the
    business's plan, `mini`), `limit` (channels that plan allows), `used`
    (channels the business has), `upgrade_to` (the plans that would allow
    the change, cheapest first; empty when none does) and `channel_type`
    (the refused type when the plan does not include it, else None)."""

    status_code = 402
    code = "plan_limit_exceeded"

    def __init__(
        self,
        detail: str,
        *,
        plan: str = "",
        limit: int | None = None,
        used: int | None = None,
        upgrade_to: list[str] | None = None,
        channel_type: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.plan = plan
        self.limit = limit
        self.used = used
        self.upgrade_to = list(upgrade_to or [])
        self.channel_type = channel_type

    def body(self) -> dict:
        """The API answer: `{"detail", "code", "plan", "limit", "used",
        "upgrade_to", "channel_type"}`."""
        return {
            "detail": self.detail,
            "code": self.code,
            "plan": self.plan,
            "limit": self.limit,
            "used": self.used,
            "upgrade_to": self.upgrade_to,
            "channel_type": self.channel_type,
        }


class ChannelInactive(ApplicationError):
    """The channel is deactivated, so nothing may be sent through it: HTTP 409."""

    status_code = 409
    code = "channel_inactive"


class MessageStateConflict(ApplicationError):
    """The action does not fit the message's delivery status (e.g. retrying a
    message already sent)."""

    status_code = 409


class FieldInvalid(ApplicationError):
    """One field of the request holds a value the domain refuses: HTTP 400 in
    DRF's validation shape, `{"<field>": ["<reason>"]}`, so API clients read
    it as they read a serializer's errors."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field

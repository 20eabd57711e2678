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
    """The business's plan does not allow this (channel type or count): HTTP 402."""

    status_code = 402
    code = "plan_limit_exceeded"


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

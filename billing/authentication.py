"""`Authorization: Bearer <token>` authentication for the REST API."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from billing.models import ApiToken
from billing.throttling import failed_auth_throttle_check


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """Authenticate a member by an API token (`billing.ApiToken`).

    The request's user is the token's member's Django user; `request.auth` is the
    `ApiToken`. A missing header lets other authenticators try; a malformed,
    unknown or revoked token answers 401 (the token is read on every request,
    so a revocation takes effect at once). Refused tokens count against the
    client IP's anonymous rate: past it, 429 instead of 401.
    """

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            failed_auth_throttle_check(request)
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: expected 'Bearer <token>'."
            )
        try:
            token = header[1].decode()
        except UnicodeError as error:
            failed_auth_throttle_check(request)
            raise exceptions.AuthenticationFailed("Invalid token.") from error
        api_token = (
            ApiToken.objects.select_related("member__user", "member__business")
            .filter(digest=ApiToken.hash(token))
            .first()
        )
        if api_token is None or not api_token.member.user.is_active:
            failed_auth_throttle_check(request)
            raise exceptions.AuthenticationFailed("Invalid token.")
        if api_token.revoked_at is not None:
            failed_auth_throttle_check(request)
            raise exceptions.AuthenticationFailed("This token has been revoked.")
        now = timezone.now()
        if (
            api_token.last_used_at is None
            or (now - api_token.last_used_at).total_seconds() > 60
        ):
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        return api_token.member.user, api_token

    def authenticate_header(self, request) -> str:
        return self.keyword

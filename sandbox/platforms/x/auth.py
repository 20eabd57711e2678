"""Authenticate requests to the X sandbox the way X does (docs/platforms/x.md,
"Credentials" and "tweepy 4.17.0").

Two schemes are accepted on the ``Authorization`` header:

- ``OAuth …``: OAuth 1.0a, HMAC-SHA1, for a registered consumer key and that
  app's access token (user context). tweepy signs the *real* URL
  (``https://api.twitter.com/2/...``) and PingBack's transport adapter only
  rewrites the host afterwards (docs/platforms/x.md, "tweepy 4.17.0"), so the
  signature base string is rebuilt from ``x_real_host + path`` plus the query
  parameters. JSON bodies are never part of an OAuth 1.0a signature.
- ``Bearer <token>``: a registered app's bearer token (app-only) or a
  registered access token used as an OAuth 2.0 user token (user context).

Timestamps and nonces are not checked: the sandbox only proves that the
caller holds the right secrets.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from oauthlib.oauth1.rfc5849 import signature as oauth_signature

from sandbox.platforms.x.payloads import XApp

OAUTH1 = "oauth1"
BEARER = "bearer"


@dataclass(frozen=True)
class AuthResult:
    """Who made a request.

    ``kind`` is ``"oauth1"``, ``"bearer"`` or ``None`` (no or unknown scheme);
    ``app`` is ``None`` when the credentials were invalid; ``user_id`` is set
    for user context and ``None`` for app-only bearer requests.
    """

    kind: str | None = None
    app: XApp | None = None
    user_id: str | None = None

    @property
    def valid(self) -> bool:
        """True when the credentials belong to a registered app."""
        return self.app is not None

    @property
    def user_context(self) -> bool:
        """True for OAuth 1.0a or OAuth 2.0 user tokens, False for app-only."""
        return self.valid and self.user_id is not None

    @property
    def description(self) -> str:
        """X's name for this authentication type, used in 403 problem details."""
        if self.kind == OAUTH1:
            return "OAuth 1.0a User Context"
        if self.user_id is not None:
            return "OAuth 2.0 User Context"
        return "OAuth 2.0 Application-Only"

    def as_record(self) -> dict[str, Any]:
        """``{"kind", "user_id", "consumer_key", "valid"}`` for the request log."""
        return {
            "kind": self.kind,
            "user_id": self.user_id,
            "consumer_key": self.app.consumer_key if self.app else None,
            "valid": self.valid,
        }


@dataclass(frozen=True)
class _SigningSecrets:
    """The two secrets oauthlib's ``sign_hmac_sha1_with_client`` reads."""

    client_secret: str
    resource_owner_secret: str


def authenticate(
    *,
    method: str,
    real_url: str,
    raw_query: str,
    authorization: str | None,
    apps: Iterable[XApp],
) -> AuthResult:
    """Check an ``Authorization`` header against the registered ``apps``.

    ``real_url`` is the URL the client signed (scheme, host and path, no
    query); ``raw_query`` is the undecoded query string.
    """
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    if scheme.lower() == "oauth":
        app = verify_oauth1(method, real_url, raw_query, authorization or "", apps)
        return AuthResult(OAUTH1, app, app.account.id if app else None)
    if scheme.lower() == "bearer":
        return resolve_bearer(credentials.strip(), apps)
    return AuthResult()


def resolve_bearer(token: str, apps: Iterable[XApp]) -> AuthResult:
    """Map a bearer token to an app (app-only) or to an account (user token)."""
    for app in apps:
        if token and _same(token, app.bearer_token):
            return AuthResult(BEARER, app, None)
        if token and _same(token, app.access_token):
            return AuthResult(BEARER, app, app.account.id)
    return AuthResult(BEARER)


def oauth_params(authorization: str, raw_query: str) -> dict[str, str]:
    """All request parameters (query and ``oauth_*``), last value winning."""
    params = oauth_signature.collect_parameters(
        uri_query=raw_query,
        headers={"Authorization": authorization},
        exclude_oauth_signature=False,
    )
    return dict(params)


def oauth1_signature(
    *,
    method: str,
    real_url: str,
    raw_query: str,
    authorization: str,
    consumer_secret: str,
    token_secret: str,
) -> str:
    """The HMAC-SHA1 signature X would compute for this request (RFC 5849 §3.4)."""
    params = oauth_signature.collect_parameters(
        uri_query=raw_query,
        headers={"Authorization": authorization},
        exclude_oauth_signature=True,
        with_realm=False,
    )
    base_string = oauth_signature.signature_base_string(
        method.upper(),
        oauth_signature.base_string_uri(real_url),
        oauth_signature.normalize_parameters(params),
    )
    secrets = _SigningSecrets(consumer_secret, token_secret)
    return oauth_signature.sign_hmac_sha1_with_client(base_string, secrets)


def verify_oauth1(
    method: str,
    real_url: str,
    raw_query: str,
    authorization: str,
    apps: Iterable[XApp],
) -> XApp | None:
    """Return the app whose consumer key and access token signed the request."""
    try:
        params = oauth_params(authorization, raw_query)
    except ValueError:
        return None
    if params.get("oauth_signature_method") != "HMAC-SHA1":
        return None
    app = _app_for_tokens(
        apps, params.get("oauth_consumer_key"), params.get("oauth_token")
    )
    if app is None:
        return None
    expected = oauth1_signature(
        method=method,
        real_url=real_url,
        raw_query=raw_query,
        authorization=authorization,
        consumer_secret=app.consumer_secret,
        token_secret=app.access_token_secret,
    )
    given = params.get("oauth_signature", "")
    return app if _same(expected, given) else None


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also copes with non-ASCII input."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _app_for_tokens(
    apps: Iterable[XApp], consumer_key: str | None, access_token: str | None
) -> XApp | None:
    """The registered app with this consumer key and access token, if any."""
    for app in apps:
        if app.consumer_key == consumer_key and app.access_token == access_token:
            return app
    return None

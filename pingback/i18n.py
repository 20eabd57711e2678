"""Which language a request's pages and messages come in (docs/translations.md).

`LanguageMiddleware` activates, for each request:

1. the language the logged-in member chose in Preferences
   (`billing.Member.language`, one of `settings.LANGUAGES`), else
2. the best match for the browser's `Accept-Language` header (or Django's
   language cookie), else
3. `settings.LANGUAGE_CODE` (English).

The language is active while the view runs and its template renders (a
streamed body, produced later, is in the default language). The response
says which (`Content-Language`) and that it varies with
`Accept-Language` and the session cookie (Django adds `Vary: Cookie` when the
session was read).

`language_from_headers` does step 2 for a websocket handshake's headers (the
web chat widget: its texts follow the visitor's browser).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers


def supported_language(code: str | None) -> str | None:
    """`code` (e.g. `es`, `es-MX`) as one of `settings.LANGUAGES`' codes, or
    None when PingBack has no translation for it."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def member_language(user) -> str | None:
    """The language the user's member chose, or None (anonymous, no member,
    no choice). Loads and caches `user.member`, which pages use anyway."""
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        member = user.member
    except ObjectDoesNotExist:  # a user of no business
        return None
    return supported_language(member.language)


def language_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The language for an ASGI scope's `headers`: the best match of its
    `Accept-Language` among `settings.LANGUAGES`, else `LANGUAGE_CODE`."""
    accept = ""
    for name, value in headers:
        if name.lower() == b"accept-language":
            accept = value.decode("latin-1")
            break
    for code, _quality in translation.trans_real.parse_accept_lang_header(accept):
        if code == "*":
            break
        found = supported_language(code)
        if found:
            return found
    return supported_language(settings.LANGUAGE_CODE) or settings.LANGUAGE_CODE


class LanguageMiddleware:
    """Activate the member's language, else the browser's (see the module)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = member_language(getattr(request, "user", None))
        if language is None:
            language = translation.get_language_from_request(request)
        # Only for this request: the thread (a test, an eager Celery task
        # after it) goes back to the language it had.
        with translation.override(language):
            request.LANGUAGE_CODE = translation.get_language()
            response = self.get_response(request)
            patch_vary_headers(response, ("Accept-Language",))
            response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response

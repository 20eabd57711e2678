"""The Twilio REST paths the twilio SDK calls, served for the SMS stand-in.

| method, path under `/2010-04-01/Accounts/{AccountSid}` | answer |
| --- | --- |
| `GET .json` | the account |
| `GET /IncomingPhoneNumbers.json?PhoneNumber=` | a page of the account's numbers |
| `GET /IncomingPhoneNumbers/{PN sid}.json` | the number |
| `POST /IncomingPhoneNumbers/{PN sid}.json` | update `SmsUrl`, `SmsMethod` |
| `POST /Messages.json` | 201 the queued message, or Twilio's error |
| `GET /Messages/{message sid}/Media/{ME sid}` | 307 to the file |

Every path needs HTTP basic auth `AccountSid:AuthToken`: a wrong pair is 401
with code 20003, another account's path 404 with code 20404, as Twilio
answers (docs/platforms/sms.md, "Errors PingBack maps").
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from typing import TYPE_CHECKING, Any

from sandbox.core.http import Request, Response, json_response, match_route, route
from sandbox.platforms.sms.payloads import (
    API_VERSION,
    TwilioAccount,
    error_body,
    new_sid,
    rfc2822,
)

if TYPE_CHECKING:
    from sandbox.platforms.sms.standin import SmsStandIn

PREFIX = f"/{API_VERSION}/Accounts/"
MAX_BODY_LENGTH = 1600
MAX_MEDIA = 10
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
RETRY_AFTER_S = 1
REFUSALS = {
    "invalid_number": (400, 21211, "Invalid 'To' Phone Number: {to}"),
    "unsubscribed": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "rate_limited": (429, 20429, "Too Many Requests"),
    "server_error": (500, 20500, "Internal Server Error"),
}
"""Send refusals by mode: HTTP status, Twilio code, message."""


def is_api_path(path: str) -> bool:
    """Whether `path` is a Twilio REST path this stand-in serves."""
    return path.startswith(PREFIX)


def twilio_error(status: int, code: int, message: str, **headers: str) -> Response:
    """A refused call, as Twilio answers it."""
    return json_response(status, error_body(status, code, message), headers=headers)


def _credentials(req: Request) -> tuple[str, str] | None:
    scheme, _, encoded = req.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _authenticate(standin: SmsStandIn, req: Request) -> TwilioAccount | None:
    credentials = _credentials(req)
    if credentials is None:
        return None
    with standin.lock:
        account = standin.accounts.get(credentials[0])
    if account is None or not hmac.compare_digest(
        credentials[1].encode(), account.auth_token.encode()
    ):
        return None
    return account


# ------------------------------------------------------------------- handlers


def account_fetch(standin: SmsStandIn, req: Request) -> Response:
    """`GET /Accounts/{sid}.json` (the auth token is left out)."""
    account = standin.accounts[req.params["account"]]
    return json_response(
        200,
        {
            "sid": account.sid,
            "owner_account_sid": account.sid,
            "friendly_name": account.friendly_name,
            "status": "active",
            "type": "Full",
            "date_created": rfc2822(),
            "date_updated": rfc2822(),
            "uri": f"{PREFIX}{account.sid}.json",
            "subresource_uris": {
                "incoming_phone_numbers": (
                    f"{PREFIX}{account.sid}/IncomingPhoneNumbers.json"
                ),
                "messages": f"{PREFIX}{account.sid}/Messages.json",
            },
        },
    )


def number_list(standin: SmsStandIn, req: Request) -> Response:
    """`GET /IncomingPhoneNumbers.json`, filtered by an exact `PhoneNumber`."""
    account_sid = req.params["account"]
    wanted = req.query.get("PhoneNumber")
    numbers = [
        number.resource()
        for number in standin.account_numbers(account_sid)
        if wanted is None or number.phone_number == wanted
    ]
    uri = f"{PREFIX}{account_sid}/IncomingPhoneNumbers.json"
    page_size = int(req.query.get("PageSize") or 50)
    return json_response(
        200,
        {
            "incoming_phone_numbers": numbers,
            "page": 0,
            "page_size": page_size,
            "start": 0,
            "end": max(len(numbers) - 1, 0),
            "uri": f"{uri}?{req.raw_query}" if req.raw_query else uri,
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
        },
    )


def _own_number(standin: SmsStandIn, req: Request) -> Any:
    with standin.lock:
        number = standin.numbers.get(req.params["number"])
    if number is None or number.account_sid != req.params["account"]:
        return None
    return number


def number_fetch(standin: SmsStandIn, req: Request) -> Response:
    """`GET /IncomingPhoneNumbers/{sid}.json`."""
    number = _own_number(standin, req)
    if number is None:
        return _not_found(req)
    return json_response(200, number.resource())


def number_update(standin: SmsStandIn, req: Request) -> Response:
    """`POST /IncomingPhoneNumbers/{sid}.json` with `SmsUrl` and `SmsMethod`."""
    number = _own_number(standin, req)
    if number is None:
        return _not_found(req)
    form = req.form_lists()
    method = (form.get("SmsMethod") or [number.sms_method])[-1].upper()
    if method not in ("GET", "POST"):
        return twilio_error(400, 21606, f"SmsMethod is not valid: {method}")
    with standin.lock:
        if "SmsUrl" in form:
            number.sms_url = form["SmsUrl"][-1]
        number.sms_method = method
        return json_response(200, number.resource())


def message_create(standin: SmsStandIn, req: Request) -> Response:
    """`POST /Messages.json`: validate as Twilio does, apply the modes, then
    answer 201 `queued` and start the delivery (media, status callbacks)."""
    account = standin.accounts[req.params["account"]]
    form = req.form_lists()
    to, from_ = _last(form, "To"), _last(form, "From")
    body = _last(form, "Body")
    media_urls = form.get("MediaUrl", [])
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not from_:
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if from_ not in {n.phone_number for n in standin.account_numbers(account.sid)}:
        return twilio_error(
            400,
            21606,
            f"The From phone number {from_} is not a valid, SMS-capable inbound "
            "phone number or short code for your account.",
        )
    if not E164.match(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not body and not media_urls:
        return twilio_error(400, 21602, "Message body is required.")
    if len(body) > MAX_BODY_LENGTH:
        return twilio_error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        )
    if len(media_urls) > MAX_MEDIA:
        return twilio_error(400, 21623, "Number of media files exceeds allowed limit.")
    refusal = standin.take_send_failure(to, from_)
    if refusal is not None:
        status, code, message = REFUSALS[refusal]
        headers = {"Retry-After": str(RETRY_AFTER_S)} if status == 429 else {}
        return twilio_error(status, code, message.format(to=to), **headers)
    send = standin.record_send(
        {
            "sid": new_sid("MM" if media_urls else "SM"),
            "account_sid": account.sid,
            "from": from_,
            "to": to,
            "body": body,
            "media_urls": media_urls,
            "media": [],
            "status_callback": _last(form, "StatusCallback"),
            "status": "queued",
            "error_code": None,
            "callbacks": [],
            "created_at": time.time(),
        }
    )
    return json_response(201, _message_resource(send))


def media_fetch(standin: SmsStandIn, req: Request) -> Response:
    """`GET /Messages/{sid}/Media/{ME sid}`: like Twilio, a redirect to where
    the file is stored (here the stand-in's `media/<sid>` control path)."""
    with standin.lock:
        found = req.params["media"] in standin.media
    if not found:
        return _not_found(req)
    location = f"{standin.base_url}/_sandbox/sms/media/{req.params['media']}"
    return Response(307, headers={"Location": location})


def _message_resource(send: dict[str, Any]) -> dict[str, Any]:
    uri = f"{PREFIX}{send['account_sid']}/Messages/{send['sid']}"
    return {
        "sid": send["sid"],
        "account_sid": send["account_sid"],
        "from": send["from"],
        "to": send["to"],
        "body": send["body"],
        "status": "queued",
        "direction": "outbound-api",
        "num_segments": "1",
        "num_media": str(len(send["media_urls"])),
        "api_version": API_VERSION,
        "price": None,
        "price_unit": "USD",
        "error_code": None,
        "error_message": None,
        "messaging_service_sid": None,
        "date_created": rfc2822(),
        "date_updated": rfc2822(),
        "date_sent": None,
        "uri": f"{uri}.json",
        "subresource_uris": {"media": f"{uri}/Media.json"},
    }


def _last(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[-1]


def _not_found(req: Request) -> Response:
    return twilio_error(404, 20404, f"The requested resource {req.path} was not found")


_ACCOUNT = r"/2010-04-01/Accounts/(?P<account>AC[0-9a-fA-F]{32})"
ROUTES = (
    route("GET", _ACCOUNT + r"\.json", account_fetch),
    route("GET", _ACCOUNT + r"/IncomingPhoneNumbers\.json", number_list),
    route(
        "GET",
        _ACCOUNT + r"/IncomingPhoneNumbers/(?P<number>PN[0-9a-f]{32})\.json",
        number_fetch,
    ),
    route(
        "POST",
        _ACCOUNT + r"/IncomingPhoneNumbers/(?P<number>PN[0-9a-f]{32})\.json",
        number_update,
    ),
    route("POST", _ACCOUNT + r"/Messages\.json", message_create),
    route(
        "GET",
        _ACCOUNT + r"/Messages/(?P<message>[A-Za-z0-9]+)"
        r"/Media/(?P<media>ME[0-9a-f]{32})",
        media_fetch,
    ),
)


def handle_api_request(standin: SmsStandIn, req: Request) -> Response:
    """Authenticate and answer one REST call."""
    account = _authenticate(standin, req)
    if account is None:
        return twilio_error(401, 20003, "Authenticate")
    found = match_route(ROUTES, req.method, req.path)
    if found is None:
        return _not_found(req)
    endpoint, params = found
    if params["account"] != account.sid:
        return _not_found(req)
    return endpoint.handler(standin, req.with_match(params))

"""`/ws/widget/<channel id>/`: the visitors' websocket (PingBack's own protocol).

The handshake is refused (HTTP 403) for an unknown or inactive widget channel
and for a page whose `Origin` is not in the channel's `allowed_domains`.

Frames are JSON objects with a `type`. From the widget:
    {"type": "hello", "token": str | null, "last_message_id": int | null,
     "language"?: str}
        first frame; `token` is the visitor token from an earlier welcome,
        `last_message_id` the newest message id the widget holds (on a
        reconnect, the server sends what came after it), `language` the
        browser's (`navigator.language`), used when PingBack has it.
    {"type": "message", "id": <UUID made by the widget>, "text": str}
        a visitor message; resending the same id stores it once.
    {"type": "identify", "identifier": str, "identifier_hash": str,
     "name"?: str, "email"?: str, "phone"?: str, "attributes"?: object}
        the website says who the visitor is (`PingBackWidget.identify` or the
        embed's data attributes): its own user id and the hex
        HMAC-SHA256 of it under the widget's `identity_secret`, computed by
        the site's server. Applied only when the hash verifies
        (`channels_app.widget.services.visitor_identify`); answered
        `identified`, or an error `invalid_identity` / `identity_refused`
        (nothing changed). After hello only.
    {"type": "typing"}
        the visitor is typing (the widget sends at most one per 2 s; the
        server takes at most one per `TYPING_MIN_INTERVAL`); the agents see
        "The customer is typing…" for a few seconds. Ignored before the
        visitor's first message (there is no conversation yet).
    {"type": "rating", "token": str, "score": int, "comment"?: str}
        the visitor rates their resolved conversation (customer
        satisfaction): `token` is the `rating.token` of the question's
        message. Answered `rated`, or an error `invalid_rating` with `field`
        (`score` or `comment`; nothing stored) or `rating_refused` (a token
        that is not of this visitor's conversation, expired, or already
        used). After hello only.
From PingBack:
    {"type": "welcome", "token": str, "visitor_id": str,
     "settings": {"name", "welcome_message", "brand_color", "logo_url"},
     "language": str, "strings": {key: text},
     "messages": [<message>]}
        the visitor's history (or what they missed), oldest first; `strings`
        are the widget's own texts (`widget_strings`) in `language`.
Texts meant for the visitor (`strings`, error `detail`s) follow the browser:
the hello's `language`, else the handshake's `Accept-Language`, when
PingBack has a translation for it (docs/translations.md); else English.
    {"type": "ack", "id": <UUID>, "status": "accepted" | "duplicate"}
    {"type": "rated", "token": str, "score": int}
        the visitor's rating was stored.
    {"type": "identified"}
        the website's identification was verified and applied.
    {"type": "typing"}
        an agent is typing a reply in the visitor's conversation (no name:
        the visitor never learns who; the widget shows "typing…" for a few
        seconds).
    {"type": "message", "message": <message>}
        a new message: an agent's reply, or one the visitor sent from another
        tab (`id` null; matched by `client_id`).
    {"type": "error", "code": str, "detail": str, "id"?: <UUID>,
     "retry_after"?: seconds}
        codes: `rate_limited`, `hello_required`, `invalid_identity`,
        `identity_refused`, `invalid_frame` (not a JSON
        object of a known type, or JSON nested deeper than JSON_MAX_DEPTH),
        `invalid_message`, `empty_message`, `message_too_long`,
        `channel_inactive`, `frame_too_large` (over WEBSOCKET_MAX_FRAME_BYTES;
        the connection is then closed with code 1009).
Strings in frames are stored with NUL and lone surrogates replaced by U+FFFD;
a binary frame is read as UTF-8 text.
<message> is described in `channels_app.platforms.web_widget`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext

from channels_app.models import Channel
from channels_app.platforms.web_widget import (
    WIDGET_MESSAGE_EVENT,
    origin_allowed,
    visitor_group,
)
from channels_app.widget.selectors import (
    message_payload,
    visitor_conversation,
    visitor_message_list,
    widget_channel_get,
    widget_public_settings,
    widget_strings,
)
from channels_app.widget.services import (
    VisitorIdentityInvalid,
    VisitorMessage,
    VisitorMessageInvalid,
    connection_rate_check,
    message_rate_check,
    visitor_identification_clean,
    visitor_identify,
    visitor_message_clean,
    visitor_message_record,
    visitor_new,
    visitor_token_issue,
    visitor_token_read,
)
from conversations import presence
from conversations.realtime import INBOX_EVENT, inbox_group
from pingback import metrics
from pingback.i18n import language_from_headers, supported_language
from pingback.untrusted import JsonTooDeep, json_loads, value_repair

logger = logging.getLogger(__name__)

CLOSE_CHANNEL_INACTIVE = 4403
CLOSE_RATE_LIMITED = 4429
# RFC 6455 §7.4.1: "a message that is too big for it to process".
CLOSE_MESSAGE_TOO_BIG = 1009
# Channel-layer type of "an agent is typing" sent to a visitor's group.
WIDGET_TYPING_EVENT = "widget.typing"
# Seconds between two visitor typing frames the server acts on.
TYPING_MIN_INTERVAL = 1.5


def _frame_too_large(text: str) -> bool:
    limit = settings.WEBSOCKET_MAX_FRAME_BYTES
    return len(text) > limit or len(text.encode("utf-8", "surrogatepass")) > limit


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _client_ip(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _history(
    channel: Channel, visitor_id: str, after_id: int | None
) -> list[dict[str, Any]]:
    messages = visitor_message_list(
        channel=channel, visitor_id=visitor_id, after_id=after_id
    )
    return [message_payload(message) for message in messages]


class WidgetConsumer(AsyncJsonWebsocketConsumer):
    """One visitor's widget on one page. After `hello` it is in the visitor's
    group, so agents' replies (`WebWidgetPlatform.send`) reach it."""

    widget_channel: Channel | None = None
    visitor_id: str | None = None
    conversation: tuple[int, str] | None = None
    typing_at: float = 0.0
    typing_until: float = 0.0
    language: str = settings.LANGUAGE_CODE

    async def receive(
        self,
        text_data: str | None = None,
        bytes_data: bytes | None = None,
        **kwargs: Any,
    ) -> None:
        """One frame from the widget: JSON text (a binary frame is read as
        UTF-8, bytes that are not UTF-8 becoming U+FFFD). A frame over
        `WEBSOCKET_MAX_FRAME_BYTES` gets `frame_too_large` and the connection
        is closed (1009); JSON nested deeper than `JSON_MAX_DEPTH` gets
        `invalid_frame`; NUL and lone surrogates in its strings become
        U+FFFD (`pingback.untrusted`)."""
        if self.widget_channel is None:
            return
        text = text_data
        if text is None:
            text = (bytes_data or b"").decode("utf-8", "replace")
        if _frame_too_large(text):
            logger.info(
                "widget.frame_too_large",
                extra={"channel_id": str(self.widget_channel.id)},
            )
            await self._error(
                "frame_too_large",
                f"Frames may have at most {settings.WEBSOCKET_MAX_FRAME_BYTES} bytes.",
            )
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        try:
            content = json_loads(text)
        except JsonTooDeep as error:
            await self._error("invalid_frame", str(error))
            return
        except ValueError:
            content = None
        if "\\u" in text:
            content = value_repair(content)
        await self.receive_json(content)

    async def connect(self) -> None:
        self.language = language_from_headers(self.scope.get("headers") or [])
        channel_id = self.scope["url_route"]["kwargs"]["channel_id"]
        channel = await database_sync_to_async(widget_channel_get)(channel_id)
        origin = _header(self.scope, b"origin")
        if channel is None or not origin_allowed(
            origin, channel.config.get("allowed_domains") or []
        ):
            logger.info(
                "widget.connection_refused",
                extra={"channel_id": str(channel_id), "origin": origin},
            )
            await self.close()
            return
        client_ip = _client_ip(self.scope)
        retry_after = await sync_to_async(connection_rate_check)(client_ip)
        await self.accept()
        self._counted = True
        metrics.websocket_opened("widget")
        if retry_after is not None:
            logger.info(
                "widget.connection_rate_limited",
                extra={"channel_id": str(channel.id), "client_ip": client_ip},
            )
            with translation.override(self.language):
                detail = gettext(
                    "Too many chat connections from your network; try again shortly."
                )
            await self._error("rate_limited", detail, retry_after=retry_after)
            await self.close(code=CLOSE_RATE_LIMITED)
            return
        self.widget_channel = channel

    async def disconnect(self, code: int) -> None:
        if getattr(self, "_counted", False):
            self._counted = False
            metrics.websocket_closed("widget")
        expiry = getattr(self, "_expiry", None)
        if expiry is not None:
            expiry.cancel()
        if self.widget_channel is not None and self.visitor_id is not None:
            await self.channel_layer.group_discard(
                visitor_group(self.widget_channel.id, self.visitor_id),
                self.channel_name,
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        channel = self.widget_channel
        if channel is None:
            return
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "hello":
            language = supported_language(
                content.get("language")
                if isinstance(content.get("language"), str)
                else None
            )
            self.language = language or self.language
        with translation.override(self.language):
            await self._dispatch(channel, kind, content)

    async def _dispatch(self, channel: Channel, kind: Any, content: Any) -> None:
        if kind == "hello":
            await self._hello(channel, content)
        elif kind == "message":
            await self._message(channel, content)
        elif kind == "typing":
            await self._typing(channel)
        elif kind == "identify":
            await self._identify(channel, content)
        elif kind == "rating":
            await self._rating(channel, content)
        else:
            await self._error(
                "invalid_frame",
                "Expected a JSON object of type hello, message, identify, "
                "typing or rating.",
            )

    async def _rating(self, channel: Channel, frame: dict[str, Any]) -> None:
        """The visitor rates their resolved conversation
        (`satisfaction.services.visitor_rating_submit`)."""
        from pingback.errors import ApplicationError, FieldInvalid
        from satisfaction.services import visitor_rating_submit

        token = frame.get("token") if isinstance(frame.get("token"), str) else ""
        if self.visitor_id is None:
            await self._error("hello_required", "Send hello before rating.")
            return
        try:
            rating = await database_sync_to_async(visitor_rating_submit)(
                channel=channel,
                visitor_id=self.visitor_id,
                token=token,
                score=frame.get("score"),
                comment=frame.get("comment"),
            )
        except FieldInvalid as error:
            await self.send_json(
                {
                    "type": "error",
                    "code": "invalid_rating",
                    "field": error.field,
                    "detail": error.detail,
                    "token": token,
                }
            )
            return
        except ApplicationError as error:
            await self.send_json(
                {
                    "type": "error",
                    "code": "rating_refused",
                    "detail": error.detail,
                    "token": token,
                }
            )
            return
        await self.send_json({"type": "rated", "token": token, "score": rating.score})

    async def _identify(self, channel: Channel, frame: dict[str, Any]) -> None:
        """The website says who the visitor is: applied when its hash
        verifies (`visitor_identify`), else refused with nothing changed."""
        if self.visitor_id is None:
            await self._error("hello_required", "Send hello before identify.")
            return
        try:
            identification = visitor_identification_clean(frame)
            await database_sync_to_async(visitor_identify)(
                channel=channel,
                visitor_id=self.visitor_id,
                identification=identification,
            )
        except VisitorIdentityInvalid as error:
            logger.info(
                "widget.identify_refused",
                extra={"channel_id": str(channel.id), "code": error.code},
            )
            await self._error(error.code, str(error))
            return
        await self.send_json({"type": "identified"})

    async def _typing(self, channel: Channel) -> None:
        """The visitor types: mark the customer typing in their conversation
        and tell the business's agents (best effort: errors are logged)."""
        now = time.monotonic()
        if self.visitor_id is None or now - self.typing_at < TYPING_MIN_INTERVAL:
            return
        try:
            if self.conversation is None:
                self.conversation = await database_sync_to_async(visitor_conversation)(
                    channel, self.visitor_id
                )
                if self.conversation is None:
                    # Not yet a conversation: this frame does not count
                    # against the interval, so the next one is heard.
                    return
            self.typing_at = now
            conversation_id, business_id = self.conversation
            await sync_to_async(presence.typing_seen, thread_sensitive=False)(
                conversation_id, presence.CUSTOMER
            )
            await self._presence_broadcast(business_id, conversation_id)
        except Exception:
            logger.warning("widget.typing_failed", exc_info=True)
            return
        pending = self.typing_until > now
        self.typing_until = now + presence.TYPING_TTL
        if not pending:
            self._expiry = asyncio.create_task(self._typing_expiry())

    async def _typing_expiry(self) -> None:
        """Once the visitor stopped typing for `TYPING_TTL` seconds, tell the
        agents."""
        while (wait := self.typing_until - time.monotonic() + 0.2) > 0:
            await asyncio.sleep(wait)
        if self.conversation is not None:
            try:
                await self._presence_broadcast(*reversed(self.conversation))
            except Exception:
                logger.warning("widget.typing_failed", exc_info=True)

    async def _presence_broadcast(self, business_id: str, conversation_id: int) -> None:
        event = await sync_to_async(
            presence.conversation_event_if_changed, thread_sensitive=False
        )(business_id, conversation_id)
        if event is not None:
            await self.channel_layer.group_send(
                inbox_group(business_id), {"type": INBOX_EVENT, "event": event}
            )

    async def widget_typing(self, event: dict[str, Any]) -> None:
        """An agent types in this visitor's conversation (channel-layer type
        `widget.typing`, from `conversations.consumers`): no name is sent."""
        await self.send_json({"type": "typing"})

    async def _hello(self, channel: Channel, frame: dict[str, Any]) -> None:
        if self.visitor_id is None:
            self.visitor_id = (
                visitor_token_read(channel_id=channel.id, token=frame.get("token"))
                or visitor_new()
            )
            await self.channel_layer.group_add(
                visitor_group(channel.id, self.visitor_id), self.channel_name
            )
        after_id = frame.get("last_message_id")
        if not isinstance(after_id, int) or isinstance(after_id, bool):
            after_id = None
        messages = await database_sync_to_async(_history)(
            channel, self.visitor_id, after_id
        )
        await self.send_json(
            {
                "type": "welcome",
                "token": visitor_token_issue(
                    channel_id=channel.id, visitor_id=self.visitor_id
                ),
                "visitor_id": self.visitor_id,
                "settings": widget_public_settings(channel),
                "language": self.language,
                "strings": widget_strings(),
                "messages": messages,
            }
        )

    async def _message(self, channel: Channel, frame: dict[str, Any]) -> None:
        frame_id = frame.get("id") if isinstance(frame.get("id"), str) else None
        if self.visitor_id is None:
            await self._error(
                "hello_required", "Send hello before messages.", message_id=frame_id
            )
            return
        try:
            message = visitor_message_clean(frame)
        except VisitorMessageInvalid as error:
            await self._error(error.code, str(error), message_id=frame_id)
            return
        retry_after = await sync_to_async(message_rate_check)(
            channel_id=channel.id, visitor_id=self.visitor_id
        )
        if retry_after is not None:
            logger.info(
                "widget.message_rate_limited",
                extra={"channel_id": str(channel.id), "visitor_id": self.visitor_id},
            )
            await self._error(
                "rate_limited",
                gettext("You are sending messages too fast; this one is sent shortly."),
                message_id=message.message_id,
                retry_after=retry_after,
            )
            return
        outcome = await database_sync_to_async(visitor_message_record)(
            channel=channel, visitor_id=self.visitor_id, message=message
        )
        if outcome.status == "ignored":
            await self._error(
                "channel_inactive",
                gettext("This chat is closed."),
                message_id=message.message_id,
            )
            await self.close(code=CLOSE_CHANNEL_INACTIVE)
            return
        await self.send_json(
            {"type": "ack", "id": message.message_id, "status": outcome.status}
        )
        if outcome.status == "accepted":
            await self._share_with_other_tabs(channel, self.visitor_id, message)

    async def _share_with_other_tabs(
        self, channel: Channel, visitor_id: str, message: VisitorMessage
    ) -> None:
        frame = {
            "id": None,
            "client_id": message.message_id,
            "direction": "inbound",
            "text": message.text,
            "sent_at": timezone.now().isoformat(),
            "attachments": [],
        }
        await self.channel_layer.group_send(
            visitor_group(channel.id, visitor_id),
            {
                "type": WIDGET_MESSAGE_EVENT,
                "message": frame,
                "sender": self.channel_name,
            },
        )

    async def widget_message(self, event: dict[str, Any]) -> None:
        """A message for the visitor, from `WebWidgetPlatform.send` or another
        tab (channel-layer type `widget.message`; the tab that sent it already
        shows it)."""
        if event.get("sender") != self.channel_name:
            await self.send_json({"type": "message", "message": event["message"]})

    async def _error(
        self,
        code: str,
        detail: str,
        *,
        message_id: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "detail": detail}
        if message_id is not None:
            frame["id"] = message_id
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self.send_json(frame)

"""The widget's texts follow the visitor's browser (docs/translations.md): the
welcome frame carries them in the language of the hello's `language`
(navigator.language), else of the handshake's Accept-Language, when PingBack
has a translation; else in English. Refusals meant for the visitor too."""

import uuid

import pytest
from asgiref.sync import async_to_sync

from channels_app.tests.widget.communicator import WebsocketCommunicator
from channels_app.tests.widget.conftest import SHOP, client_ip
from channels_app.widget.services import MAX_MESSAGE_LENGTH

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5


def socket_for(channel_id, accept_language: str | None) -> WebsocketCommunicator:
    from pingback.asgi import application

    headers = [(b"origin", SHOP.encode())]
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/widget/{channel_id}/", headers=headers
    )
    communicator.scope["client"] = (client_ip(), 50123)
    return communicator


def welcome_and_refusal(channel_id, accept_language, hello_language=None):
    """The welcome frame, and the answer to a message that is too long."""

    async def scenario():
        socket = socket_for(channel_id, accept_language)
        connected, _ = await socket.connect(timeout=TIMEOUT)
        assert connected
        hello = {"type": "hello", "token": None, "last_message_id": None}
        if hello_language is not None:
            hello["language"] = hello_language
        await socket.send_json_to(hello)
        welcome = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.send_json_to(
            {
                "type": "message",
                "id": str(uuid.uuid4()),
                "text": "x" * (MAX_MESSAGE_LENGTH + 1),
            }
        )
        refusal = await socket.receive_json_from(timeout=TIMEOUT)
        await socket.disconnect()
        return welcome, refusal

    return async_to_sync(scenario)()


def test_the_widget_speaks_spanish_to_a_spanish_browser(
    widget_channel, fresh_channel_layer
):
    welcome, refusal = welcome_and_refusal(widget_channel.id, "es-MX,es;q=0.9,en;q=0.5")

    assert welcome["language"] == "es"
    assert welcome["strings"]["send"] == "Enviar"
    assert welcome["strings"]["placeholder"] == "Escribe un mensaje…"
    assert welcome["strings"]["open_chat"] == "Abrir el chat"
    assert welcome["strings"]["send_rating"] == "Enviar la valoración"
    assert welcome["strings"]["score_1"] == "Mal"
    assert refusal["code"] == "message_too_long"
    assert refusal["detail"] == (
        f"Un mensaje puede tener como máximo {MAX_MESSAGE_LENGTH} caracteres."
    )
    # The business's own words are never translated.
    assert welcome["settings"]["welcome_message"] == "Hi! How can we help?"


def test_a_language_without_translation_gets_english(
    widget_channel, fresh_channel_layer
):
    welcome, refusal = welcome_and_refusal(widget_channel.id, "de-DE,de;q=0.9")

    assert welcome["language"] == "en"
    assert welcome["strings"]["send"] == "Send"
    assert refusal["detail"].startswith("A message may have at most")


def test_no_accept_language_gets_english(widget_channel, fresh_channel_layer):
    welcome, _ = welcome_and_refusal(widget_channel.id, None)

    assert welcome["strings"]["typing"] == "typing…"


def test_the_browser_language_named_in_hello_wins(widget_channel, fresh_channel_layer):
    # navigator.language says Spanish though the header says English.
    welcome, refusal = welcome_and_refusal(widget_channel.id, "en-US", "es-ES")

    assert welcome["language"] == "es"
    assert welcome["strings"]["send"] == "Enviar"
    assert refusal["detail"].startswith("Un mensaje puede tener")

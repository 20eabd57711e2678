"""Customer satisfaction in the widget, through the real ASGI application:
the question a resolution sends reaches the visitor's open widget with an
inline rating, and the visitor's `rating` frame stores one rating for their
own conversation only."""

import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from conversations.models import Conversation
from conversations.services.conversations import conversation_update
from satisfaction.models import SatisfactionRating, SatisfactionSettings

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 5
QUESTION = "How did we do?"


async def frame_of_type(socket, kind: str) -> dict:
    while True:
        frame = await socket.receive_json_from(timeout=TIMEOUT)
        if frame["type"] == kind:
            return frame


def test_the_visitor_rates_inline_once(widget_socket, widget_channel, admin_member):
    SatisfactionSettings.objects.create(
        business=widget_channel.business, enabled=True, question=QUESTION
    )

    def resolve() -> None:
        conversation_update(
            conversation=Conversation.objects.get(),
            by=admin_member.user,
            status="resolved",
        )

    async def scenario():
        socket = widget_socket(widget_channel.id)
        await socket.connect(timeout=TIMEOUT)
        await socket.send_json_to({"type": "hello", "token": None})
        welcome = await frame_of_type(socket, "welcome")
        await socket.send_json_to(
            {"type": "message", "id": str(uuid.uuid4()), "text": "Where is my order?"}
        )
        await frame_of_type(socket, "ack")

        await database_sync_to_async(resolve)()
        question = (await frame_of_type(socket, "message"))["message"]
        token = question["rating"]["token"]

        await socket.send_json_to(
            {"type": "rating", "token": token, "score": 9, "comment": "Kind"}
        )
        bad_score = await frame_of_type(socket, "error")
        await socket.send_json_to(
            {"type": "rating", "token": token[:-2] + "xx", "score": 4}
        )
        forged = await frame_of_type(socket, "error")
        await socket.send_json_to(
            {"type": "rating", "token": token, "score": 4, "comment": "Kind"}
        )
        rated = await frame_of_type(socket, "rated")
        await socket.send_json_to({"type": "rating", "token": token, "score": 1})
        again = await frame_of_type(socket, "error")
        await socket.disconnect()

        # a returning visitor sees the question as rated
        back = widget_socket(widget_channel.id)
        await back.connect(timeout=TIMEOUT)
        await back.send_json_to({"type": "hello", "token": welcome["token"]})
        history = (await frame_of_type(back, "welcome"))["messages"]
        await back.disconnect()
        return question, bad_score, forged, rated, again, history

    question, bad_score, forged, rated, again, history = async_to_sync(scenario)()

    assert question["text"] == QUESTION and question["direction"] == "outbound"
    assert question["rating"]["score"] is None
    assert (bad_score["code"], bad_score["field"]) == ("invalid_rating", "score")
    assert forged["code"] == "rating_refused"
    assert rated == {"type": "rated", "token": question["rating"]["token"], "score": 4}
    assert again["code"] == "rating_refused"
    assert "already been rated" in again["detail"]
    rating = SatisfactionRating.objects.get()
    assert (rating.score, rating.comment) == (4, "Kind")
    assert [m["rating"]["score"] for m in history if "rating" in m] == [4]


def test_another_visitors_token_is_refused(widget_socket, widget_channel, admin_member):
    """A visitor who learnt another visitor's token cannot rate for them."""
    from satisfaction.models import SatisfactionRequest
    from satisfaction.services import rating_token

    SatisfactionSettings.objects.create(
        business=widget_channel.business, enabled=True, question=QUESTION
    )

    async def visitor_writes() -> str:
        socket = widget_socket(widget_channel.id)
        await socket.connect(timeout=TIMEOUT)
        await socket.send_json_to({"type": "hello", "token": None})
        await frame_of_type(socket, "welcome")
        await socket.send_json_to(
            {"type": "message", "id": str(uuid.uuid4()), "text": "Hi"}
        )
        await frame_of_type(socket, "ack")
        await socket.disconnect()

    async_to_sync(visitor_writes)()
    conversation_update(
        conversation=Conversation.objects.get(), by=admin_member.user, status="resolved"
    )
    token = rating_token(SatisfactionRequest.objects.get())

    async def intruder() -> dict:
        socket = widget_socket(widget_channel.id)
        await socket.connect(timeout=TIMEOUT)
        await socket.send_json_to({"type": "hello", "token": None})
        await frame_of_type(socket, "welcome")
        await socket.send_json_to({"type": "rating", "token": token, "score": 1})
        answer = await frame_of_type(socket, "error")
        await socket.disconnect()
        return answer

    assert async_to_sync(intruder)()["code"] == "rating_refused"
    assert not SatisfactionRating.objects.exists()

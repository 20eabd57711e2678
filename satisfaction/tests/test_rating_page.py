"""The public rating page `/rate/<token>/`: no login, one rating per
token, a refused value keeps what was typed, forged tokens refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from conversations.models import Message
from satisfaction.models import SatisfactionRating, SatisfactionRequest
from satisfaction.services import TOKEN_SALT, rating_token

pytestmark = pytest.mark.django_db

LONG_COMMENT = (
    "<script>alert('x')</script> Ürün geldi ama kutu ezilmişti; שלום "
    + "averyveryverylongwordwithoutanyspace" * 20
)


@pytest.fixture
def asked(csat_on, make_conversation, resolve) -> SatisfactionRequest:
    conversation = make_conversation("telegram")
    resolve(conversation)
    return SatisfactionRequest.objects.get(conversation=conversation)


def link_of(request: SatisfactionRequest) -> str:
    """The link as the customer received it (the question's last line)."""
    text = request.message.text
    return "/" + text.rsplit("\n", 1)[1].split("/", 3)[3]


def test_the_link_in_the_question_opens_the_form_without_login(asked):
    page = Client().get(link_of(asked))

    assert page.status_code == 200
    body = page.content.decode()
    assert f"How did <bdi>{asked.business.name}</bdi> do?" in body
    assert 'name="csrfmiddlewaretoken"' in body
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cache-Control"] == "no-store"


def test_a_rating_is_stored_and_shown_on_the_conversation(asked):
    client = Client()
    url = link_of(asked)

    sent = client.post(url, {"score": "4", "comment": "  Quick and kind.  "})

    assert sent.status_code == 303 and sent["Location"] == url
    rating = SatisfactionRating.objects.get()
    assert (rating.score, rating.comment) == (4, "Quick and kind.")
    assert rating.conversation_id == asked.conversation_id
    assert rating.business_id == asked.business_id
    thanks = client.get(url).content.decode()
    assert "You rated your conversation with" in thanks and "4 out of 5" in thanks
    entry = Message.objects.filter(kind="activity").latest("pk")
    assert entry.text == (
        "The customer rated this conversation 4/5 and left a comment "
        "(in the customer panel)"
    )


@pytest.mark.parametrize("score", ["", "0", "6", "four", "3.5"])
def test_a_bad_score_is_refused_beside_its_field_keeping_the_comment(asked, score):
    refused = Client().post(
        link_of(asked), {"score": score, "comment": "The agent was great"}
    )

    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Choose a score from 1 (bad) to 5 (great)." in body
    assert 'id="score-errors"' in body
    assert ">The agent was great</textarea>" in body
    assert not SatisfactionRating.objects.exists()


def test_a_too_long_comment_is_refused_and_kept(asked):
    comment = "x" * 2001

    refused = Client().post(link_of(asked), {"score": "5", "comment": comment})

    assert refused.status_code == 400
    body = refused.content.decode()
    assert "A comment may have at most 2000 characters." in body
    assert comment in body
    assert 'value="5" checked' in body


def test_the_token_rates_once(asked):
    client = Client()
    client.post(link_of(asked), {"score": "2", "comment": "slow"})

    again = client.post(link_of(asked), {"score": "5", "comment": "changed my mind"})

    assert again.status_code == 409
    assert "4 out of 5" not in again.content.decode()
    assert SatisfactionRating.objects.get().score == 2


def test_forged_mistyped_and_other_conversation_tokens_are_refused(
    asked, make_conversation, resolve
):
    other = make_conversation("telegram")
    resolve(other)
    other_request = SatisfactionRequest.objects.get(conversation=other)
    token = rating_token(asked)
    # a token naming the other request, with this conversation's signature
    swapped = signing.dumps(
        {"r": other_request.pk, "c": asked.conversation_id}, salt=TOKEN_SALT
    )
    unsigned = token.rsplit(":", 1)[0] + ":AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    other_salt = signing.dumps({"r": asked.pk, "c": asked.conversation_id})

    for bad in (unsigned, swapped, other_salt, "nothing", token[:-1]):
        answer = Client().post(f"/rate/{bad}/", {"score": "5"})
        assert answer.status_code == 404, bad
        assert "This rating link is not valid" in answer.content.decode()
    assert not SatisfactionRating.objects.exists()


def test_an_expired_token_is_refused(asked, monkeypatch):
    token = rating_token(asked)
    later = timezone.now() + timedelta(days=8)
    monkeypatch.setattr(signing.time, "time", lambda: later.timestamp())

    assert Client().get(f"/rate/{token}/").status_code == 404


def test_a_post_without_the_csrf_token_is_refused(asked):
    answer = Client(enforce_csrf_checks=True).post(link_of(asked), {"score": "5"})

    assert answer.status_code == 403
    assert not SatisfactionRating.objects.exists()


def test_a_skipped_request_has_no_working_link(csat_on, make_conversation, resolve):
    conversation = make_conversation("whatsapp", wrote_ago=timedelta(days=2))
    resolve(conversation)
    skipped = SatisfactionRequest.objects.get()

    answer = Client().get(f"/rate/{rating_token(skipped)}/")

    assert answer.status_code == 404


def test_a_hostile_comment_is_shown_escaped(asked, admin_member):
    client = Client()
    client.post(link_of(asked), {"score": "1", "comment": LONG_COMMENT})

    thanks = client.get(link_of(asked)).content.decode()
    assert "<script>alert" not in thanks
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in thanks
    # the agents' customer panel shows it too, escaped
    client.force_login(admin_member.user)
    panel = client.get(reverse("conversation-panel", args=[asked.conversation_id]))
    assert panel.status_code == 200
    body = panel.content.decode()
    assert "<strong>1</strong>/5" in body
    assert "&lt;script&gt;" in body and "<script>alert" not in body


def test_erasing_the_contact_empties_the_comment_keeping_the_score(asked, admin_member):
    from contacts.services.rights import contact_erase

    Client().post(link_of(asked), {"score": "3", "comment": "I am Ana, call 555-0100"})

    contact_erase(asked.conversation.contact, by=admin_member.user)

    rating = SatisfactionRating.objects.get()
    assert (rating.score, rating.comment) == (3, "")
    texts = Message.objects.filter(conversation=asked.conversation).values_list(
        "text", flat=True
    )
    assert not any("555-0100" in text for text in texts)


def test_a_link_sent_before_the_contact_was_erased_no_longer_rates(asked, admin_member):
    from contacts.services.rights import contact_erase

    url = link_of(asked)
    contact_erase(asked.conversation.contact, by=admin_member.user)

    refused = Client().post(url, {"score": "5", "comment": "I am Ana again"})

    assert refused.status_code == 404
    assert "This rating link is not valid" in refused.content.decode()
    assert not SatisfactionRating.objects.exists()

"""E-mail replies as customers wrote them: the quoted history and the
signature folded apart (never lost), forwarded messages kept with their
header given as context, inline images shown in place.

Fixtures (`fixtures/email/reply__*.eml`, `forward__*.eml`) are shaped as each
client writes its mail: Thunderbird (format=flowed, RFC 3676, answering below
the quote, `-- ` signature, `moz-cite-prefix`), Apple Mail on macOS and iOS
(`> On … wrote:` quoted with the rest, "Sent from my iPhone",
`<blockquote type="cite">`), Gmail (its reply header per language, as in
mail-parser-reply's own test mails, `*From:*` for an Outlook header it
re-renders), Outlook desktop, web and mobile (`divRplyFwdMsg`,
"-----Ursprüngliche Nachricht-----", "Get Outlook for iOS"), in English,
Russian, French, Japanese, Portuguese, Italian, Dutch, Polish, German,
Spanish and Chinese. The text and folded parts each fixture parses to are in
its expectation file, checked by the contract suite (`contract/`).
"""

import re
import time

import pytest
from django.urls import reverse
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES

from channels_app.platforms import get_platform
from channels_app.platforms.email_html import html_without_line
from channels_app.platforms.email_parse import flowed_decode
from channels_app.platforms.email_reply import reply_split
from channels_app.services.inbound import inbound_event_record
from channels_app.tests.email.conftest import SUPPORT_ADDRESS, eml
from channels_app.tests.platforms.contract.kits.email import KIT
from conversations.models import Conversation, Message
from conversations.services.attachments import attachment_resolve
from sandbox.platforms.mail.providers import mailgun_signed_fields


def parse(name: str):
    channel = KIT.build()
    [message] = get_platform("email").parse(channel, eml(name)).items
    return message


def test_ten_languages_or_more_are_covered_by_the_fixtures():
    languages = {
        "en", "ru", "fr", "ja", "pt", "it", "nl", "pl", "de", "es", "zh",
    }  # fmt: skip
    names = [name for name in KIT.names() if name.startswith("reply__")]

    assert len(languages) >= 10
    assert len(names) >= 10


# Where mail-parser-reply alone finds no reply header (or a wrong one), and the
# pattern email_reply adds: the reason each addition exists.
LIBRARY_MISSES = {
    "russian (not in the library)": "reply__russian_iphone",
    "portuguese (not in the library)": "reply__portuguese_gmail",
    "dutch, Gmail's header": "reply__dutch_gmail",
    "polish, Gmail's header": "reply__polish_gmail",
    "chinese, Gmail's header": "reply__chinese_gmail",
}
LIBRARY_LANGUAGES = [language for language in MAIL_LANGUAGES if language != "david"]


def plain_body(name: str) -> str:
    from channels_app.platforms.email_parse import bodies, mail_parse

    return bodies(mail_parse(eml(name)))[0]


@pytest.mark.parametrize(("_case", "name"), sorted(LIBRARY_MISSES.items()))
def test_the_library_alone_misses_these_headers_and_ours_find_them(_case, name):
    library = EmailReplyParser(languages=LIBRARY_LANGUAGES).read(plain_body(name))

    assert len(library.replies) == 1  # the library found no header
    assert reply_split(plain_body(name)).quoted


@pytest.mark.parametrize(
    ("_case", "text", "reply"),
    [
        (
            "spanish, Gmail's header",
            "Gracias.\n\nEl lun, 17 nov 2025 a las 10:00, Acme Support "
            "(<support@acme.test>) escribió:\n\n> Hola",
            "Gracias.",
        ),
        (
            "polish, Thunderbird's header",
            "Dzięki.\n\nW dniu 17.11.2025 o 10:00, Acme Support pisze:\n> Witam",
            "Dzięki.",
        ),
        (
            "russian, Thunderbird's header",
            "Спасибо.\n\n17.11.2025 10:00, Acme Support пишет:\n> Здравствуйте",
            "Спасибо.",
        ),
        (
            "dutch, Apple Mail's header",
            "Bedankt.\n\nOp 17 nov. 2025 om 10:00 heeft Acme Support "
            "<support@acme.test> het volgende geschreven:\n\n> Hallo",
            "Bedankt.",
        ),
    ],
)
def test_more_headers_the_library_misses(_case, text, reply):
    library = EmailReplyParser(languages=LIBRARY_LANGUAGES).read(text)

    assert len(library.replies) == 1
    assert reply_split(text).text == reply


def test_a_lone_data_line_is_not_a_polish_outlook_header():
    text = "Olá,\nData: 12 de março, às 10h\nObrigado"

    library = EmailReplyParser(languages=LIBRARY_LANGUAGES).read(text)

    assert library.replies[0].content == "Olá,"  # the library cuts here
    assert reply_split(text).text == text


# ------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "line",
    [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from Outlook for Android",
        "Sent from Outlook for iOS",
        "Get Outlook for iOS",
        "Get Outlook for Android<https://aka.ms/AAb9ysg>",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Enviado desde mi iPhone",
        "Enviado do meu iPhone",
        "Inviato da iPhone",
        "Verstuurd vanaf mijn iPhone",
        "Wysłane z iPhone'a",
        "Отправлено с iPhone",
        "iPhoneから送信",
        "发自我的iPhone",
    ],
)
def test_a_mobile_signature_is_folded(line):
    parts = reply_split(f"I'll be home after six.\n\n{line}")

    assert (parts.text, parts.signature) == ("I'll be home after six.", line)
    assert parts.details()["folded"] == [{"label": "Signature", "text": line}]


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, the tracking number is JD0144.\nIt still says in transit.",
        "Best regards,\nCasey",
        "Sent from my iPhone, the photo shows the dent.\nSee the corner.\n"
        "And the lid.\nAnd the box.",
        "- the lid\n- the cable",
    ],
)
def test_words_like_a_signature_inside_the_reply_stay(text):
    parts = reply_split(text)

    assert (parts.text, parts.signature) == (text, "")


@pytest.mark.parametrize(
    "text",
    [
        "> " * 5000,
        "1 " * 30000,
        "From: x\n" * 20000,
        ("On 1: " * 60 + "\n") * 2000,
    ],
)
def test_a_huge_crafted_mail_is_read_in_bounded_time(text):
    """Reply headers are looked for near line starts of the first 200 000
    characters only; before, a line of 10 000 `>` took about a minute."""
    started = time.monotonic()

    reply_split(text)

    assert time.monotonic() - started < 8


def test_a_dash_dash_space_line_starts_the_signature():
    parts = reply_split("See you then.\n-- \nCasey Customer\n+44 20 7946 0000")

    assert parts.text == "See you then."
    assert parts.signature == "--\nCasey Customer\n+44 20 7946 0000"


def test_a_flowed_text_is_unwrapped_but_its_signature_line_kept():
    flowed = "The lid is \ncracked.\n> Sorry \n> about that.\n-- \nAlex"

    assert (
        flowed_decode(flowed) == "The lid is cracked.\n> Sorry about that.\n-- \nAlex"
    )
    assert flowed_decode("a \nb", delsp=True) == "ab"


def test_a_mobile_signature_is_not_shown_twice_in_the_html():
    message = parse("reply__iphone")

    assert message.html == "Yes, please refund it to my card.<br><div><br></div>"


@pytest.mark.parametrize(
    ("html", "line", "expected"),
    [
        ("<p>Hi</p><div>Sent from my iPhone</div>", "Sent from my iPhone", "<p>Hi</p>"),
        ("<div>Sent from my iPhone</div>", "Sent from my iPhone", None),
        ("<p>Hi</p><div>Sent from my iPhone today</div>", "Sent from my iPhone", None),
    ],
)
def test_only_a_block_holding_the_signature_alone_leaves_the_html(html, line, expected):
    assert html_without_line(html, line) == (expected or html)


# ------------------------------------------------------------------- forwards


def test_a_forward_keeps_its_whole_html():
    message = parse("forward__apple_mail")

    assert "Begin forwarded message:" in message.html
    assert "Your parcel is with the courier." in message.html


def test_a_reply_header_above_a_forward_marker_makes_the_forward_history():
    text = (
        "Done.\n\nOn Mon, Nov 17, 2025 at 10:00 AM Acme <s@acme.test> wrote:\n"
        "> See below.\n> ---------- Forwarded message ---------\n> From: x"
    )

    parts = reply_split(text)

    assert (parts.text, parts.forwarded) == ("Done.", None)


def test_an_attached_message_is_an_attachment():
    message = parse("forward__attached_message")

    assert message.attachments == (
        {
            "kind": "document",
            "filename": "Your order 4411 has shipped.eml",
            "content_type": "message/rfc822",
            "size": 261,
            "ref": "fwd-attached-6@mail.customer.test#0",
        },
    )


# ---------------------------------------------------- through to the thread page

MAILGUN_KEY = "key-mailgun-signing-reply-trim"


def thread_page(client, member) -> str:
    conversation = Conversation.objects.get()
    client.force_login(member.user)
    return client.get(
        reverse("conversation", kwargs={"conversation_id": conversation.pk})
    ).content.decode()


@pytest.mark.django_db
def test_a_mailed_reply_shows_its_words_with_the_quote_and_signature_collapsed(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(
        business=agent_member.business,
        inbound_provider="mailgun",
        inbound_webhook_key=MAILGUN_KEY,
    )
    fields = mailgun_signed_fields(
        MAILGUN_KEY,
        {
            "recipient": SUPPORT_ADDRESS,
            "sender": "alex@customer.test",
            "body-mime": eml("reply__thunderbird").decode(),
        },
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/webhooks/email/{channel.id}/mailgun/inbound/mime", data=fields
        )
    assert response.status_code == 200, response.content

    page = thread_page(client, agent_member)

    assert (
        '<details class="folded"><summary>Quoted text</summary><div class="text" '
        'dir="auto">On 17/11/2025 10:00, Acme Support wrote:<br>&gt; Sorry about '
        "that! A replacement kettle ships today.<br>&gt;<br>&gt; Acme Support</div>"
        "</details>" in page
    )
    assert (
        '<details class="folded"><summary>Signature</summary><div class="text" '
        'dir="auto">--<br>Alex Martin<br>+44 20 7946 0321</div></details>' in page
    )
    shown = re.search(r'<div class="html" dir="auto">(.*?)</div>', page, re.S)
    assert shown is not None
    assert "lid is cracked" in shown.group(1)
    assert "ships today" not in shown.group(1)
    assert "Alex Martin" not in shown.group(1)


@pytest.mark.django_db
def test_a_forward_shows_its_header_above_the_forwarded_words(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(business=agent_member.business)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(
            channel=channel, body=eml("forward__outlook"), content_type="message/rfc822"
        )

    page = thread_page(client, agent_member)

    assert (
        '<blockquote class="context"><span class="context-label">Forwarded</span> '
        '<bdi dir="auto">From Acme Billing &lt;billing@acme.test&gt; · Date Sunday, '
        "November 23, 2025 7:00 AM · Subject Payment reminder 2025-118</bdi>"
        "</blockquote>" in page
    )
    assert "Invoice 2025-118 is overdue. Please pay within 7 days." in page
    assert '<details class="folded">' not in page


@pytest.mark.django_db
def test_an_inline_image_is_shown_in_place_from_pingback(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(business=agent_member.business)
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(
            channel=channel,
            body=eml("message__attachment"),
            content_type="message/rfc822",
        )

    page = thread_page(client, agent_member)

    html = re.search(r'<div class="html" dir="auto">(.*?)</div>', page, re.S)
    assert html is not None
    [src] = re.findall(r'<img src="([^"]+)"', html.group(1))
    assert "cid:" not in page
    token = src.rsplit("/", 1)[1]
    resolved = attachment_resolve(token)
    assert resolved is not None
    assert resolved.message == Message.objects.get()
    assert resolved.attachment["filename"] == "box.png"
    image = client.get(src)
    assert (image.status_code, image["Content-Type"]) == (200, "image/png")


@pytest.mark.django_db
def test_an_inline_image_naming_no_part_shows_nothing_broken(
    client, agent_member, email_channel, django_capture_on_commit_callbacks
):
    channel = email_channel(business=agent_member.business)
    raw = eml("message__attachment").replace(
        b'src="cid:box@customer.test"', b'src="cid:missing@customer.test"'
    )
    with django_capture_on_commit_callbacks(execute=True):
        inbound_event_record(channel=channel, body=raw, content_type="message/rfc822")

    page = thread_page(client, agent_member)

    html = re.search(r'<div class="html" dir="auto">(.*?)</div>', page, re.S)
    assert html is not None
    assert html.group(1) == "<p>Receipt attached, and here is the box:</p>"
    assert "cid:" not in page

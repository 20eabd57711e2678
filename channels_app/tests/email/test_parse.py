"""Parsing raw e-mail (pure): every fixture to the expected message or the
reason it is ignored; ids, threading headers, quoted text, sanitised HTML,
attachments, malformed bodies."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from channels_app.platforms import get_platform
from channels_app.platforms.base import InboundContact, InboundMessage, MalformedPayload
from channels_app.platforms.email_html import html_sanitise
from channels_app.platforms.email_reply import reply_split
from channels_app.tests.email.conftest import SUPPORT_ADDRESS, eml
from channels_app.tests.email.test_reply_trimming import REPLY_CASES
from channels_app.tests.factories import ChannelFactory
from channels_app.tests.platforms.fixtures import FIXTURES

CASEY = InboundContact(external_id="casey@customer.test", name="Casey Customer")
OUR_REPLY = "pingback.17.0f3c2a1b9d8e4f6a8b7c6d5e4f3a2b1c@acme.test"
NO_ID_KEY = "sha256:" + hashlib.sha256(eml("message__no_message_id")).hexdigest()

PARSE_CASES = {
    "message__plain": InboundMessage(
        platform_message_id="CAF7q1-order-4411@mail.customer.test",
        contact=CASEY,
        text="Hello,\n\nI ordered a kettle two weeks ago (order #4411) and it never "
        "arrived.\nCan you check?\n\nCasey",
        sent_at=datetime(2025, 11, 17, 9, 0, tzinfo=UTC),
        thread_key="CAF7q1-order-4411@mail.customer.test",
        subject="My order #4411 never arrived",
    ),
    "message__html_with_script": InboundMessage(
        platform_message_id="html-lid-1@mail.customer.test",
        contact=InboundContact(external_id="robin@customer.test", name="Robin Buyer"),
        text="The lid of my kettle is broken. Photo on my site: https://robin.test/lid",
        sent_at=datetime(2025, 11, 17, 10, 15, tzinfo=timezone(timedelta(hours=1))),
        thread_key="html-lid-1@mail.customer.test",
        subject="Broken lid",
        html='<p>The lid of my kettle is <b>broken</b>.</p>\n<p>Photo on <a href="'
        'https://robin.test/lid" target="_blank" rel="noopener noreferrer">my site'
        '</a>\nand <a target="_blank" rel="noopener noreferrer">this link</a>.</p>',
    ),
    "message__quoted_reply": InboundMessage(
        platform_message_id="CAF7q1-reply-2@mail.customer.test",
        contact=CASEY,
        text="Thanks, the tracking number is JD0144.",
        sent_at=datetime(2025, 11, 18, 8, 30, tzinfo=UTC),
        thread_key="CAF7q1-order-4411@mail.customer.test",
        reply_to_platform_message_id=OUR_REPLY,
        subject="Re: My order #4411 never arrived",
        html="<div>Thanks, the tracking number is <b>JD0144</b>.</div><br>",
        details={
            "folded": [
                {
                    "label": "Quoted text",
                    "text": "On Mon, Nov 17, 2025 at 10:00 AM Acme Support "
                    "<support@acme.test>\nwrote:\n\n> Sorry to hear that! Could you "
                    "send the tracking number?\n>\n> Acme Support",
                }
            ]
        },
    ),
    "message__outlook_reply": InboundMessage(
        platform_message_id=(
            "AM0PR01MB6000E1A2B3C4D5E6F7@AM0PR01MB6000.eurprd01.prod.outlook.test"
        ),
        contact=InboundContact(external_id="jordan.doe@corp.test", name="Doe, Jordan"),
        text="Please send it to accounts@corp.test instead.\n\nJordan",
        sent_at=datetime(2025, 11, 19, 14, 2, 11, tzinfo=UTC),
        thread_key="pingback.21.0f3c2a1b9d8e4f6a8b7c6d5e4f3a2b1c@acme.test",
        reply_to_platform_message_id=(
            "pingback.21.0f3c2a1b9d8e4f6a8b7c6d5e4f3a2b1c@acme.test"
        ),
        subject="RE: Invoice 2025-118",
        details={
            "folded": [
                {
                    "label": "Quoted text",
                    "text": "________________________________\nFrom: Acme Support "
                    "<support@acme.test>\nSent: Tuesday, "
                    "November 18, 2025 4:00 PM\nTo: Doe, Jordan <Jordan.Doe@Corp.test>"
                    "\nSubject: Invoice 2025-118\n\nYour invoice is attached.",
                }
            ]
        },
    ),
    "message__rfc2047_subject": InboundMessage(
        platform_message_id="20251120.renee.1@kunde.test",
        contact=InboundContact(external_id="renee@kunde.test", name="Renée Müller"),
        text="Guten Tag, ich möchte den Wasserkocher zurückgeben. Grüße, Renée",
        sent_at=datetime(2025, 11, 20, 7, 45, tzinfo=timezone(timedelta(hours=1))),
        thread_key="20251120.renee.1@kunde.test",
        subject="Rückerstattung für Bestellung \u2013 Wasserkocher",
    ),
    "message__attachment": InboundMessage(
        platform_message_id="attach-1@mail.customer.test",
        contact=CASEY,
        text="Receipt attached, and here is the box: [image: box.png]",
        sent_at=datetime(2025, 11, 21, 12, 0, tzinfo=UTC),
        thread_key="attach-1@mail.customer.test",
        subject="Receipt and photo",
        html='<p>Receipt attached, and here is the box:</p><img src="cid:box@customer'
        '.test" alt="box" referrerpolicy="no-referrer">',
        attachments=(
            {
                "kind": "image",
                "filename": "box.png",
                "content_type": "image/png",
                "size": 70,
                "ref": "attach-1@mail.customer.test#0",
                "content_id": "box@customer.test",
            },
            {
                "kind": "document",
                "filename": "receipt-4411.pdf",
                "content_type": "application/pdf",
                "size": 45,
                "ref": "attach-1@mail.customer.test#1",
            },
        ),
    ),
    "message__forwarded": InboundMessage(
        platform_message_id="CAF7q1-fwd-5@mail.customer.test",
        contact=CASEY,
        text="This says it shipped, but nothing came.\n\nYour kettle is on its way. "
        "Tracking: JD0144.",
        sent_at=datetime(2025, 11, 22, 9, 10, tzinfo=UTC),
        thread_key="CAF7q1-fwd-5@mail.customer.test",
        subject="Fwd: Your order 4411 has shipped",
        html="<div>This says it shipped, but nothing came.<br><br><div><div>"
        "---------- Forwarded message ---------<br>From: <strong>Acme Shop</strong> "
        "&lt;orders@acme.test&gt;<br>Date: Mon, Nov 10, 2025 at 8:00 AM<br>Subject: "
        "Your order 4411 has shipped<br>To: &lt;casey@customer.test&gt;<br></div><br>"
        "<div>Your kettle is on its way. Tracking: JD0144.</div></div></div>",
        details={
            "context": [
                {
                    "label": "Forwarded",
                    "text": "From Acme Shop <orders@acme.test> · Date Mon, Nov 10, "
                    "2025 at 8:00 AM · Subject Your order 4411 has shipped",
                }
            ]
        },
    ),
    "message__no_message_id": InboundMessage(
        platform_message_id=NO_ID_KEY,
        contact=InboundContact(external_id="sam@customer.test"),
        text="Is the Leeds shop open on Sunday?",
        sent_at=datetime(2025, 11, 21, 13, 0, tzinfo=UTC),
        thread_key=NO_ID_KEY,
        subject="Opening hours",
    ),
}

IGNORED = {
    "ignored__auto_reply": "automatic message (Auto-Submitted: auto-replied)",
    "ignored__mailing_list": "bulk mail (Precedence: list)",
    "ignored__bounce": "bounce (empty Return-Path)",
}

PROVIDER_FIXTURES = {"mailgun__inbound_mime", "postmark__inbound"}


def channel():
    return ChannelFactory.build(type="email", config={"address": SUPPORT_ADDRESS})


def test_every_email_fixture_has_a_case():
    names = {path.stem for path in (FIXTURES / "email").iterdir()}

    assert names == (
        set(PARSE_CASES) | set(IGNORED) | PROVIDER_FIXTURES | set(REPLY_CASES)
    )


@pytest.mark.parametrize("name", sorted(PARSE_CASES))
def test_email_fixture_parses_to_the_expected_message(name):
    parsed = get_platform("email").parse(channel(), eml(name))

    assert parsed.items == (PARSE_CASES[name],)
    assert parsed.ignored == ()


@pytest.mark.parametrize(("name", "reason"), sorted(IGNORED.items()))
def test_automatic_and_list_mail_is_ignored_with_the_reason(name, reason):
    parsed = get_platform("email").parse(channel(), eml(name))

    assert parsed.items == ()
    assert parsed.ignored == (reason,)


def test_the_dedupe_key_is_the_message_id_lower_cased_else_a_hash_of_the_bytes():
    platform = get_platform("email")

    outlook = platform.parse(channel(), eml("message__outlook_reply"))
    no_id = platform.parse(channel(), eml("message__no_message_id"))

    assert outlook.event_key == (
        "am0pr01mb6000e1a2b3c4d5e6f7@am0pr01mb6000.eurprd01.prod.outlook.test"
    )
    assert no_id.event_key == NO_ID_KEY


def test_mail_from_the_channels_own_address_is_a_loop_and_ignored():
    raw = eml("message__plain").replace(
        b"From: Casey Customer <Casey@Customer.test>", b"From: Support@Acme.test"
    )

    parsed = get_platform("email").parse(channel(), raw)

    assert parsed.items == ()
    assert parsed.ignored == ("mail from the channel's own address (loop)",)


@pytest.mark.parametrize(
    ("_case", "header", "reason"),
    [
        ("auto-generated", b"Auto-Submitted: auto-generated", "automatic message"),
        ("bulk", b"Precedence: bulk", "bulk mail (Precedence: bulk)"),
        ("junk", b"Precedence: junk", "bulk mail (Precedence: junk)"),
        ("list id", b"List-Id: <news.shop.test>", "mailing list mail"),
        ("x-autoreply", b"X-Autoreply: yes", "automatic reply (X-Autoreply)"),
    ],
)
def test_each_auto_reply_rule_applies_alone(_case, header, reason):
    raw = eml("message__plain").replace(b"MIME-Version", header + b"\nMIME-Version")

    parsed = get_platform("email").parse(channel(), raw)

    assert parsed.items == ()
    assert parsed.ignored[0].startswith(reason)


def test_auto_submitted_no_is_a_person_writing():
    raw = eml("message__plain").replace(
        b"MIME-Version", b"Auto-Submitted: no\nMIME-Version"
    )

    parsed = get_platform("email").parse(channel(), raw)

    assert len(parsed.items) == 1


@pytest.mark.parametrize(
    ("_case", "body", "error"),
    [
        ("empty", b"  \r\n", "body: empty"),
        (
            "JSON",
            b'{"from": "casey@customer.test"}',
            "From: missing (the body is not an e-mail message)",
        ),
        ("From without address", b"From: Casey\r\n\r\nhello", "From: no address"),
    ],
)
def test_a_body_that_is_not_a_message_is_malformed(_case, body, error):
    with pytest.raises(MalformedPayload) as raised:
        get_platform("email").parse(channel(), body)

    assert str(raised.value) == error


# ------------------------------------------------------------------ quoted text


@pytest.mark.parametrize(
    ("_case", "text", "expected"),
    [
        (
            "gmail, wrapped header",
            "Yes please.\n\nOn Mon, Nov 17, 2025 at 10:00 AM Acme Support <\n"
            "support@acme.test> wrote:\n> Shall we refund?\n",
            "Yes please.",
        ),
        (
            "french",
            "Merci !\n\nLe lun. 17 nov. 2025 à 10:00, Acme <s@acme.test> a écrit :\n"
            "> Bonjour\n",
            "Merci !",
        ),
        (
            "german",
            "Danke!\n\nAm Mo., 17. Nov. 2025 um 10:00 Uhr schrieb Acme "
            "<s@acme.test>:\n> Hallo\n",
            "Danke!",
        ),
        (
            "outlook original message",
            "Fine.\n\n-----Original Message-----\nFrom: Acme\nSent: today\n\nOld",
            "Fine.",
        ),
        (
            "outlook header block",
            "Fine.\n\nFrom: Acme Support\nSent: Tuesday\nTo: me\nSubject: x\n\nOld",
            "Fine.",
        ),
        (
            "inline quotes dropped, answers kept",
            "> Which colour?\nBlue.\n> Which size?\nLarge.",
            "Blue.\nLarge.",
        ),
        ("only quotes: all kept", "> just forwarding this\n> to you", None),
        (
            "a forward is kept whole",
            "See below.\n\nBegin forwarded message:\n\nFrom: Shop <s@shop.test>\n"
            "Date: 10 November 2025\nSubject: Shipped\n\nYour order shipped.",
            "See below.\n\nYour order shipped.",
        ),
        ("signature folded apart", "Thanks\n-- \nCasey, +44 20 7946 0000", "Thanks"),
    ],
)
def test_quoted_history_is_trimmed(_case, text, expected):
    assert reply_split(text).text == (expected or text.strip())


# ------------------------------------------------------------------------- HTML


@pytest.mark.parametrize(
    ("_case", "html", "expected"),
    [
        (
            "script, style, handlers",
            '<style>p{}</style><p onmouseover="x()" style="color:red">Hi'
            "<script>steal()</script></p>",
            "<p>Hi</p>",
        ),
        (
            "javascript link loses its target, a web link opens apart",
            '<a href="javascript:alert(1)">a</a><a href="https://ok.test">b</a>',
            '<a target="_blank" rel="noopener noreferrer">a</a><a href="https://ok.test"'
            ' target="_blank" rel="noopener noreferrer">b</a>',
        ),
        (
            "inline cid image kept for the inbox to point at its part",
            '<p>Box:</p><img src="cid:box@x">',
            '<p>Box:</p><img src="cid:box@x" referrerpolicy="no-referrer">',
        ),
        (
            "a cid link loses its target",
            '<a href="cid:box@x">box</a>',
            '<a target="_blank" rel="noopener noreferrer">box</a>',
        ),
        (
            "remote image kept without referrer",
            '<img src="https://shop.test/p.png" onerror="x()" alt="p">',
            '<img src="https://shop.test/p.png" alt="p" referrerpolicy="no-referrer">',
        ),
        (
            "apple mail quote",
            '<div>Yes</div><blockquote type="cite">Old</blockquote>',
            "<div>Yes</div>",
        ),
        (
            "outlook history",
            '<p>Yes</p><div id="appendonsend"></div><hr><div id="divRplyFwdMsg">'
            "From: Acme</div><p>Old</p>",
            "<p>Yes</p>",
        ),
        (
            "a quote alone is kept",
            '<blockquote type="cite">Forwarded words</blockquote>',
            "<blockquote>Forwarded words</blockquote>",
        ),
        ("nothing to show", "<script>x()</script>", ""),
    ],
)
def test_html_is_sanitised_and_its_quoted_history_trimmed(_case, html, expected):
    assert html_sanitise(html) == expected

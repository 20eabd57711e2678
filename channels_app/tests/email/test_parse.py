"""Parsing raw e-mail (pure): loops, each auto-reply rule, quoted text and
sanitised HTML. Every fixture's message or ignored reason (ids, threading
headers, attachments) and malformed bodies are in the contract suite
(`channels_app/tests/platforms/contract/`, kit `kits/email.py`)."""

import pytest

from channels_app.platforms import get_platform
from channels_app.platforms.email_html import html_sanitise
from channels_app.platforms.email_reply import reply_split
from channels_app.tests.email.conftest import SUPPORT_ADDRESS, eml
from channels_app.tests.factories import ChannelFactory


def channel():
    return ChannelFactory.build(type="email", config={"address": SUPPORT_ADDRESS})


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

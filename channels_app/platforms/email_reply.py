"""What a customer wrote in an e-mail, apart from what their mail client
added below it: the quoted history of earlier mails, the signature, and the
header of a message they forwarded.

Pure functions on the text body (no ORM, no network).

Reply headers are found by mail-parser-reply's patterns (its `HEADER_REGEX`
over the languages in `LANGUAGES`): "On … wrote:" and its translations,
Outlook's "From: … Sent: …" block (also as Gmail shows it, `*From:*`), and
"-----Original Message-----".
    https://github.com/alfonsrv/mail-parser-reply (mail-parser-reply 1.36)
The few patterns below are added only where a test
(channels_app/tests/email/test_reply_trimming.py, `LIBRARY_MISSES`) shows the
library misses what a common client writes: Russian and Portuguese (not in
the library), Gmail's Dutch, Polish, Spanish and Chinese headers, Thunderbird's
Polish one, and a Polish `Data:` line alone taken for a header.

Signatures: RFC 3676 §4.3's `-- ` line, and a mobile client's line ("Sent
from my iPhone", "Von meinem iPhone gesendet", "Get Outlook for iOS"...), by
the library's `sent_from` phrases and the translations added below.
Headers are looked for at line starts (a line's first 200 characters) in
the first 200 000 characters only, so a crafted mail cannot keep a worker
busy.

Forwarded messages (Gmail's "---------- Forwarded message ---------", Apple
Mail's "Begin forwarded message:", Thunderbird's "-------- Forwarded Message
--------", Outlook's header block in a mail whose subject says `FW:`) are
what the customer wants read: they are kept, their header given apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mailparser_reply.parser import EmailMessage as _LibraryMessage

# The languages whose reply headers and mobile signatures are recognised.
LANGUAGES = (
    "en", "de", "fr", "es", "it", "pt", "nl", "pl", "ru", "ja", "zh", "ko",
    "sv", "da", "cs",
)  # fmt: skip
# Quote marks before a header; atomic, so that a line of many `>` is read once.
_QUOTE = r"(?>(?:> ?)*)"

# Alternatives added to the library's, per language and pattern kind.
_ADDED: dict[str, dict[str, str]] = {
    # Gmail in many languages: "<date> <time>, Name <address>:" with no verb
    # (Russian, Dutch); a time, a year and a bracketed address before ":".
    "gmail": {
        "wrote_header": rf"^({_QUOTE}(?=[^\n]*\d{{4}})(?=[^\n]*\d:\d\d)"
        r"[^\n]*<[^<>\s@]+@[^<>\s]+>\s?:)$",
    },
    "en": {
        "sent_from": r"Sent from Outlook|Sent from Yahoo Mail|Sent from Mail for "
        r"Windows|Sent from Gmail Mobile",
    },
    "de": {
        "sent_from": r"Von meinem .{1,40} gesendet|Outlook für .{1,20} herunterladen"
    },
    "fr": {"sent_from": r"Envoyé de mon|Envoyé à partir de|Obtenir Outlook pour"},
    "es": {
        # The library's needs two spaces before "escribió" (Gmail writes one).
        "wrote_header": rf"^({_QUOTE}El\s[^\n]+\sescribió\s?:)$",
        "sent_from": r"Enviado desde (?:mi|Outlook|Yahoo|Correo)|Obtener Outlook "
        r"para",
    },
    "it": {"sent_from": r"Inviato dal mio|Scarica Outlook per"},
    "pt": {
        "wrote_header": rf"^({_QUOTE}Em\s[^\n]+\sescreveu\s?:)$",
        "from_header": rf"((?:(?:^|\n|\n{_QUOTE})[* ]*(?:De|Enviado|Enviada|Para|"
        r"Assunto|Data|Cc):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})",
        "sent_from": r"Enviado do meu|Enviado do Outlook|Enviado do Yahoo|Obter o "
        r"Outlook para",
    },
    "nl": {
        # Gmail: "Op ma 17 nov 2025 om 10:00 schreef Name <address>:";
        # Apple Mail: "Op … heeft Name het volgende geschreven:".
        "wrote_header": rf"^({_QUOTE}Op\s[^\n]+\s(?:schreef\s[^\n]+|heeft\s[^\n]+"
        r"\s(?:het volgende\s)?geschreven)\s?:)$",
        "sent_from": r"Verstuurd vanaf mijn|Verzonden met|Outlook voor .{1,20} "
        r"downloaden",
    },
    "pl": {
        # Gmail: "pon., 17 lis 2025 o 10:00 Name <address> napisał(a):";
        # Thunderbird: "W dniu 17.11.2025 o 10:00, Name pisze:".
        "wrote_header": rf"^({_QUOTE}(?:W dniu\s[^\n]+\s(?:pisze|napisał\(a\)|"
        r"napisał)|(?=[^\n]*\d:\d\d)[^\n]*\snapisał\(a\))\s?:)$",
        "sent_from": r"Wysłane z mojego|Wysłane z",
    },
    "ru": {
        # Apple Mail "… написал(а):", Thunderbird "… пишет:", Outlook.com,
        # Yandex and Mail.ru "… написал:".
        "wrote_header": rf"^({_QUOTE}(?=[^\n]*\d)[^\n]*\s(?:написал\(а\)|написала|"
        r"написал|пишет)\s?:)$",
        "from_header": rf"((?:(?:^|\n|\n{_QUOTE})[* ]*(?:От|От кого|Отправлено|Кому|"
        r"Тема|Дата|Копия):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})",
        "sent_from": r"Отправлено с|Отправлено из|Отправлено через|Получить "
        r"Outlook для",
    },
    "ja": {"sent_from": r"[^\n]{1,30}から送信"},
    "zh": {"sent_from": r"发自我的|从我的[^\n]*发送"},
}
# Library patterns replaced (a test shows each wrong).
_REPLACED: dict[str, dict[str, str]] = {
    # The library's lookahead refuses the very line it looks for.
    "zh": {
        "wrote_header": rf"^({_QUOTE}(?=[^\n]*\d{{4}}年\d{{1,2}}月\d{{1,2}}日)"
        r"[^\n]*写道[：:])$"
    },
    # The library takes one `Data:` or `Do:` line alone for a header.
    "pl": {
        "from_header": rf"((?:(?:^|\n|\n{_QUOTE})[* ]*(?:Od|Wysłano|Do|Temat|Data|"
        r"DW):[ *]*(?:\s{,2}).*){2,}(?:\n.*){,1})",
    },
}


class _Patterns(_LibraryMessage):
    """mail-parser-reply's patterns with the additions above."""

    def _get_language_regex(self, language: str, regex_key: str) -> str:
        replaced = _REPLACED.get(language, {}).get(regex_key)
        if replaced is not None:
            return replaced
        ours = _ADDED.get(language, {}).get(regex_key, "")
        theirs = (
            super()._get_language_regex(language, regex_key)
            if language in (LANGUAGES)
            else ""
        )
        return "|".join(pattern for pattern in (theirs, ours) if pattern)


_PATTERNS = _Patterns(text="", languages=[*LANGUAGES, "gmail"])
HEADER_REGEX: re.Pattern[str] = _PATTERNS.HEADER_REGEX
_MOBILE_SIGNATURE = re.compile(
    r"^(?:"
    + "|".join(
        pattern
        for language in LANGUAGES
        if (pattern := _PATTERNS._get_language_regex(language, "sent_from"))
    )
    + r")[^\n]{0,60}$",
    re.IGNORECASE,
)
# Longer lines are no header: only their start is searched (bounds the time).
_HEADER_MAX = 200
# A header further down than this many characters is not looked for (a reply
# header is near the top; this bounds the time a huge mail takes).
_SEARCH_MAX = 200_000
_HEADER_HINT = re.compile(r"[:：]|-{5,}")
# A mobile signature is at the end: at most this many lines after it.
_MOBILE_SIGNATURE_TAIL = 2
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$")
# Outlook's line above its header block, and its "-----Original Message-----"
# in other languages ("-----Ursprüngliche Nachricht-----").
_RULE = re.compile(r"^\s*(?:_{10,}|-{10,}|-{3,}\s*[^\W\d][^\n]{0,40}?\s*-{3,})\s*$")
_ORIGINAL_MESSAGE = re.compile(r"^\s*-{5,} ?Original Message ?-{5,}\s*$", re.I)

_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{5,}\s*(?:Forwarded message|Forwarded Message|Mensaje reenviado|"
    r"Message transféré|Weitergeleitete Nachricht|Messaggio inoltrato|"
    r"Mensagem encaminhada|Doorgestuurd bericht|Wiadomość przekazana dalej|"
    r"Przekazana wiadomość|Пересылаемое сообщение|Пересланное сообщение|"
    r"転送されたメッセージ|已转发邮件|Vidarebefordrat meddelande|"
    r"Videresendt meddelelse)\s*-{5,}"
    r"|(?:Begin forwarded message|Anfang der weitergeleiteten (?:Nachricht|E-Mail)|"
    r"Début du message réexpédié|Inicio del mensaje reenviado|"
    r"Início da mensagem encaminhada|Inizio messaggio inoltrato|"
    r"Begin doorgestuurd bericht|Początek przekazywanej wiadomości|"
    r"Начало переадресованного сообщения|転送されたメッセージ)\s?:)\s*$",
    re.IGNORECASE,
)
# Subject prefixes of a forward (Outlook writes no marker line, only FW:).
FORWARD_SUBJECT = re.compile(
    r"^\s*(?:fwd?|fw|wg|tr|rv|enc|doorst|pd|i|vs|vb|пересл|转发|転送)\s*[:：]",
    re.IGNORECASE,
)
_FIELD = re.compile(r"^\s*\*?([^\W\d][^:：*]{0,24}?)\*?\s?[:：]\*?\s*(.*)$")
_FIELD_NAMES = {
    "from": (
        "from", "von", "de", "da", "van", "od", "от", "от кого", "发件人",
        "差出人", "från", "fra", "od",
    ),
    "date": (
        "date", "sent", "datum", "gesendet", "envoyé", "enviado", "enviada",
        "fecha", "data", "inviato", "verzonden", "wysłano", "дата", "отправлено",
        "日付", "送信日時", "发送时间", "日期", "skickat", "sendt",
    ),
    "subject": (
        "subject", "betreff", "objet", "sujet", "asunto", "assunto", "oggetto",
        "onderwerp", "temat", "тема", "件名", "主题", "ämne", "emne",
    ),
}  # fmt: skip
_FIELD_KIND = {name: kind for kind, names in _FIELD_NAMES.items() for name in names}
_SHOWN_FIELDS = (("from", "From"), ("date", "Date"), ("subject", "Subject"))

QUOTED_LABEL = "Quoted text"
SIGNATURE_LABEL = "Signature"
FORWARDED_LABEL = "Forwarded"


@dataclass(frozen=True)
class ReplyParts:
    """An e-mail's text split as the thread shows it.

    `text`: what the customer wrote (with a forwarded message's body);
    `quoted`: the quoted history trimmed off ("" when none); `signature`:
    their signature block ("" when none); `forwarded`: the forwarded
    message's header fields {from, date, subject} (each when given), or None
    when the mail forwards nothing."""

    text: str
    quoted: str = ""
    signature: str = ""
    forwarded: dict[str, str] | None = None

    def details(self) -> dict[str, Any]:
        """The `InboundMessage.details` keys these parts give: `folded`
        [{label: "Signature"|"Quoted text", text}] and `context`
        [{label: "Forwarded", text: "From … · Date … · Subject …"}], each
        only when there is something to put in it."""
        details: dict[str, Any] = {}
        folded = [
            {"label": label, "text": text}
            for label, text in (
                (SIGNATURE_LABEL, self.signature),
                (QUOTED_LABEL, self.quoted),
            )
            if text
        ]
        if folded:
            details["folded"] = folded
        if self.forwarded is not None:
            shown = " · ".join(
                f"{label} {self.forwarded[key]}"
                for key, label in _SHOWN_FIELDS
                if self.forwarded.get(key)
            )
            details["context"] = [{"label": FORWARDED_LABEL, "text": shown}]
        return details


def _joined(lines: list[str]) -> str:
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _is_blank(line: str) -> bool:
    return not line.strip()


def _header_line(lines: list[str]) -> int | None:
    """The index of the first line of the first reply header, or None.

    The patterns are tried only at the start of a line that has, or whose
    next line has, a colon or a dash rule (every header has one): trying
    them at every character of a long mail took seconds."""
    stripped = [line.strip()[:_HEADER_MAX] for line in lines]
    text = "\n".join(stripped)
    hinted = [_HEADER_HINT.search(line) is not None for line in stripped]
    position = 0
    for index, line in enumerate(stripped):
        if position > _SEARCH_MAX:
            break
        if (hinted[index] or hinted[index + 1 : index + 2] == [True]) and (
            HEADER_REGEX.match(text, position) is not None
        ):
            return index
        position += len(line) + 1
    return None


def _is_header_block(lines: list[str], index: int) -> bool:
    """Whether the header at `index` is a block of fields (Outlook's
    "From: … Sent: …") rather than an "On … wrote:" line."""
    fields = 0
    for line in lines[index : index + 6]:
        if _FIELD.match(line.strip().lstrip("> ")) is None:
            break
        fields += 1
    return fields >= 2


def _forward_fields(lines: list[str]) -> tuple[dict[str, str], list[str]]:
    """Read a forwarded message's header at the top of `lines` (blank lines
    before it skipped, up to the first blank line after it); return its
    from/date/subject fields and the lines after it."""
    index = 0
    while index < len(lines) and _is_blank(lines[index]):
        index += 1
    if index == len(lines) or _FIELD.match(lines[index].strip()) is None:
        return {}, lines[index:]
    fields: dict[str, str] = {}
    while index < len(lines) and not _is_blank(lines[index]):
        found = _FIELD.match(lines[index].strip())
        if found is not None:
            kind = _FIELD_KIND.get(found.group(1).strip().lower())
            value = " ".join(found.group(2).strip(" *").split())
            if kind and value and kind not in fields:
                fields[kind] = value
        index += 1
    return fields, lines[index:]


def _signature_split(lines: list[str]) -> tuple[list[str], list[str]]:
    """Split `lines` (a reply) before its signature: a `-- ` line, or a
    mobile client's line among the last ones."""
    after = sum(1 for line in lines if not _is_blank(line))
    for index, line in enumerate(lines):
        if not _is_blank(line):
            after -= 1
        if _SIGNATURE_DELIMITER.match(line):
            return lines[:index], lines[index:]
        if after <= _MOBILE_SIGNATURE_TAIL and _MOBILE_SIGNATURE.match(line.strip()):
            return lines[:index], lines[index:]
    return lines, []


def _without_rules(lines: list[str]) -> tuple[list[str], list[str]]:
    """`lines` without the separator lines (Outlook's underscores, "-----
    Ursprüngliche Nachricht-----") at their end, and those lines."""
    end = len(lines)
    while end and (_is_blank(lines[end - 1]) or _RULE.match(lines[end - 1])):
        end -= 1
    return lines[:end], lines[end:]


def reply_split(text: str, *, subject: str = "") -> ReplyParts:
    """Split an e-mail's text (its plain body, or its HTML body read as text)
    into what the customer wrote, the quoted history, the signature, and a
    forwarded message's header.

    The quoted history starts at the first reply header (see the module
    docstring); `>` lines in the reply (answers written between quoted lines)
    go with it. When the customer wrote below the quote, what they wrote
    after the header is the reply. A forwarded message (its marker line, or
    for a mail whose `subject` starts with `FW:`/`Fwd:`..., Outlook's header
    block) is kept in `text` with what the customer wrote above it, and its
    header's From/Date/Subject go to `forwarded`; nothing below the marker
    is trimmed. The signature (`-- ` and what follows, or a mobile line such
    as "Sent from my iPhone") is taken from what the customer wrote. When
    nothing would be left of the text, it is kept whole."""
    whole = text.replace("\r\n", "\n").strip()
    lines = [line.rstrip() for line in whole.split("\n")]
    header = _header_line(lines)
    marker = next(
        (index for index, line in enumerate(lines) if _FORWARD_MARKER.match(line)),
        None,
    )
    forwarded: dict[str, str] | None = None
    body: list[str] = []
    quoted: list[str] = []
    if marker is not None and (header is None or marker <= header):
        forwarded, body = _forward_fields(lines[marker + 1 :])
        top = lines[:marker]
    elif (
        header is not None
        and FORWARD_SUBJECT.match(subject)
        and (_is_header_block(lines, header) or _ORIGINAL_MESSAGE.match(lines[header]))
    ):
        fields_at = header + 1 if _ORIGINAL_MESSAGE.match(lines[header]) else header
        forwarded, body = _forward_fields(lines[fields_at:])
        top = lines[:header]
    elif header is not None:
        top, history = lines[:header], lines[header:]
        if all(_is_blank(line) or line.startswith(">") for line in top):
            # Written below the quote: the header and `>` lines are history.
            quoted = [*top, history[0]]
            top = []
            for line in history[1:]:
                (quoted if line.startswith(">") else top).append(line)
        else:
            quoted = history
    else:
        top = lines
    top, rules = _without_rules(top)
    quoted = rules + quoted if quoted else quoted
    if forwarded is None and any(not line.startswith(">") for line in top if line):
        inline = [line for line in top if line.startswith(">")]
        top = [line for line in top if not line.startswith(">")]
        quoted = inline + ([""] if inline and quoted else []) + quoted
    top, signature = _signature_split(top)
    shown = _joined([*top, "", *body]) if body else _joined(top)
    if not shown:
        return ReplyParts(text=whole)
    return ReplyParts(
        text=shown,
        quoted=_joined(quoted),
        signature=_joined(signature),
        forwarded=forwarded,
    )


def is_forward(text: str, *, subject: str = "") -> bool:
    """Whether the text forwards another message (see `reply_split`)."""
    return reply_split(text, subject=subject).forwarded is not None

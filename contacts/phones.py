"""Phone numbers in one form: E.164 (`+351912345678`), parsed with Google's
libphonenumber port (`phonenumbers`)."""

from __future__ import annotations

import phonenumbers


def phone_e164(raw: str, default_country: str = "") -> str | None:
    """`raw` as written by a person or a platform (`+1 (415) 555-0100`,
    `00351 912 345 678`, `912345678` with `default_country="PT"`, WhatsApp's
    `351912345678` without the plus) in E.164, or None when it is not a
    possible phone number.

    A number without a country code is read as `default_country`'s (an ISO
    3166 alpha-2 code); with no default it is read as international (digits
    after an implied `+`), which is how WhatsApp and Twilio write numbers.
    """
    text = (raw or "").strip()
    if not text or sum(ch.isdigit() for ch in text) < 5:
        return None
    region = (default_country or "").upper() or None
    if text.startswith("00"):
        # The international call prefix used in most of the world.
        text = "+" + text[2:].lstrip()
    candidates = [text]
    if not text.startswith("+"):
        candidates = ["+" + text] if region is None else [text, "+" + text]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164
            )
    return None


def phone_display(e164: str) -> str:
    """An E.164 number written for people (`+1 415-555-0100`); the input
    unchanged when it does not parse."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(
        number, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )

"""Contacts in and out as CSV: the export every member may download and the
import admins upload.

Columns (a header row first; names ignore case and order):

- `name`, `company`, `note`: text;
- `emails`, `phones`: several values joined with `;` (phones are written in
  E.164; on import any way of writing a number is read with the business's
  default country);
- `labels`: label names of the business joined with `;`;
- `attr:<key>`: one column per custom attribute key (`attr:plan`);
- `created_at`: ISO 8601, written by the export and ignored by the import.

Cells a spreadsheet would run as a formula (starting with `=`, `+`, `-`,
`@`, a tab or a carriage return) are written with a leading `'`; the import
removes that `'` again, so an exported file imports back unchanged.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from billing.models import Business
from contacts.models import ContactEmail, ContactPhone
from contacts.selectors.contacts import contact_label_rows, contacts_for_export
from contacts.services.contacts import (
    ATTRIBUTE_KEY,
    ATTRIBUTE_VALUE_MAX_LENGTH,
    ContactInvalid,
    contact_attributes_set,
    contact_create,
    contact_details_add,
    contact_update,
    email_normalized,
    phone_normalized,
)
from conversations.models import Contact
from webhooks.services import events as webhook_events
from workspace.models import Label

BASE_COLUMNS = ("name", "company", "emails", "phones", "labels", "note", "created_at")
ATTRIBUTE_PREFIX = "attr:"
IMPORT_MAX_BYTES = 5 * 2**20
IMPORT_MAX_ROWS = 10_000
NAME_MAX_LENGTH = 200  # Contact.name and Contact.company
NOTE_MAX_LENGTH = 10_000
# SQLite allows 999 parameters a statement: look values up this many at a time.
LOOKUP_CHUNK = 500
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ContactImportInvalid(ContactInvalid):
    """The uploaded file as a whole cannot be imported (too large, not UTF-8
    text, not CSV, an unknown column): HTTP 400 naming `file`, nothing
    imported."""


def cell_safe(value: Any) -> str:
    """`value` as a CSV cell a spreadsheet shows as text: a leading `'` when
    it starts with a character that would make it a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def cell_read(value: str | None) -> str:
    """A cell as imported: trimmed, with the `'` that `cell_safe` adds
    removed."""
    text = (value or "").strip()
    if text.startswith("'") and text[1:2] and text[1:].startswith(_FORMULA_STARTS):
        return text[1:]
    return text


# -------------------------------------------------------------------- export


class _Echo:
    """A file whose `write` returns what it is given, so `csv.writer` makes
    one line at a time for a streamed answer."""

    def write(self, value: str) -> str:
        return value


def export_attribute_keys(business: Business) -> list[str]:
    """The custom attribute keys any of the business's contacts has, sorted:
    the export's `attr:<key>` columns."""
    keys: set[str] = set()
    for attributes in Contact.objects.filter(
        business=business, erased_at__isnull=True
    ).values_list("custom_attributes", flat=True):
        if isinstance(attributes, dict):
            keys.update(attributes)
    return sorted(keys)


def contacts_csv_lines(business: Business) -> Iterator[str]:
    """The business's contacts as CSV lines (header first, oldest contact
    first), produced as they are read: meant for a streamed answer."""
    keys = export_attribute_keys(business)
    writer = csv.writer(_Echo())
    yield writer.writerow(
        [
            "name",
            "company",
            "emails",
            "phones",
            "labels",
            *(ATTRIBUTE_PREFIX + key for key in keys),
            "note",
            "created_at",
        ]
    )
    for contact in contacts_for_export(business):
        attributes = contact.custom_attributes or {}
        yield writer.writerow(
            [
                cell_safe(contact.name),
                cell_safe(contact.company),
                cell_safe(";".join(e.address for e in contact.emails.all())),
                cell_safe(";".join(p.number for p in contact.phones.all())),
                cell_safe(";".join(r["name"] for r in contact_label_rows(contact))),
                *(cell_safe(_attribute_text(attributes.get(key))) for key in keys),
                cell_safe(contact.note),
                contact.created_at.isoformat(),
            ]
        )


def _attribute_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -------------------------------------------------------------------- import


@dataclass
class RowError:
    """A refused row: `row` is its line as a spreadsheet numbers it (the
    header is row 1), `field` the column, `detail` why."""

    row: int
    field: str
    detail: str


@dataclass
class ImportResult:
    """What an import did: contacts `created`, `updated` (a row matched an
    existing contact and brought something new), `unchanged` (it matched and
    brought nothing new) and the refused rows (`errors`)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [
                {"row": e.row, "field": e.field, "detail": e.detail}
                for e in self.errors
            ],
        }


@dataclass
class _Row:
    number: int
    name: str
    company: str
    note: str
    emails: list[str]
    phones: list[str]
    labels: list[Label]
    attributes: dict[str, str]
    given: set[str]  # the columns the row has a value in


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.replace("\n", ";").split(";") if part.strip()]


def _read_text(upload: UploadedFile) -> str:
    size = upload.size or 0
    if size > IMPORT_MAX_BYTES:
        raise ContactImportInvalid(
            "file", f"The file is larger than {IMPORT_MAX_BYTES // 2**20} MB."
        )
    raw = upload.read(IMPORT_MAX_BYTES + 1)
    if len(raw) > IMPORT_MAX_BYTES:
        raise ContactImportInvalid(
            "file", f"The file is larger than {IMPORT_MAX_BYTES // 2**20} MB."
        )
    if not raw.strip():
        raise ContactImportInvalid("file", "The file is empty.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ContactImportInvalid(
            "file", "The file is not UTF-8 text: save it as CSV UTF-8."
        ) from None


def _columns(header: list[str]) -> list[str]:
    """The header's column names, normalised; `ContactImportInvalid` for a
    column the import does not know or a repeated one."""
    columns = []
    for raw in header:
        name = raw.strip().lower()
        if name.startswith(ATTRIBUTE_PREFIX):
            key = name[len(ATTRIBUTE_PREFIX) :].strip()
            if not ATTRIBUTE_KEY.match(key):
                raise ContactImportInvalid(
                    "file",
                    f"Column {raw!r}: attribute names are 1 to 40 lowercase "
                    "letters, digits and _ starting with a letter.",
                )
            name = ATTRIBUTE_PREFIX + key
        elif name not in BASE_COLUMNS:
            raise ContactImportInvalid(
                "file",
                f"Unknown column {raw!r}: use name, company, emails, phones, "
                "labels, note, created_at and attr:<key>.",
            )
        if name in columns:
            raise ContactImportInvalid("file", f"Column {raw!r} appears twice.")
        columns.append(name)
    if not set(columns) & {"name", "emails", "phones"}:
        raise ContactImportInvalid(
            "file", "The header row needs a name, emails or phones column."
        )
    return columns


def _row_parsed(
    number: int,
    cells: dict[str, str],
    business: Business,
    labels_by_name: dict[str, Label],
) -> _Row | RowError:
    """A row's values, normalised; the first problem as a `RowError`."""
    name = cells.get("name", "")
    company = cells.get("company", "")
    note = cells.get("note", "")
    for column, value, limit in (
        ("name", name, NAME_MAX_LENGTH),
        ("company", company, NAME_MAX_LENGTH),
        ("note", note, NOTE_MAX_LENGTH),
    ):
        if len(value) > limit:
            return RowError(number, column, f"At most {limit} characters.")
    try:
        emails = list(
            dict.fromkeys(email_normalized(v) for v in _split(cells.get("emails", "")))
        )
    except ContactInvalid as error:
        return RowError(number, "emails", error.detail)
    try:
        phones = list(
            dict.fromkeys(
                phone_normalized(v, business) for v in _split(cells.get("phones", ""))
            )
        )
    except ContactInvalid as error:
        return RowError(number, "phones", error.detail)
    labels = []
    for label_name in _split(cells.get("labels", "")):
        label = labels_by_name.get(label_name.lower())
        if label is None:
            return RowError(
                number, "labels", f"No label named {label_name!r} in this business."
            )
        labels.append(label)
    attributes = {}
    for column, value in cells.items():
        if column.startswith(ATTRIBUTE_PREFIX) and value:
            if len(value) > ATTRIBUTE_VALUE_MAX_LENGTH:
                return RowError(
                    number,
                    column,
                    f"At most {ATTRIBUTE_VALUE_MAX_LENGTH} characters.",
                )
            attributes[column[len(ATTRIBUTE_PREFIX) :]] = value
    if not (name or emails or phones):
        return RowError(
            number, "name", "A row needs a name, an e-mail address or a phone number."
        )
    return _Row(
        number=number,
        name=name,
        company=company,
        note=note,
        emails=emails,
        phones=phones,
        labels=labels,
        attributes=attributes,
        given={column for column, value in cells.items() if value},
    )


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), LOOKUP_CHUNK):
        yield values[start : start + LOOKUP_CHUNK]


class _Matcher:
    """Finds the existing contact a row is about: by any of its e-mail
    addresses, then any of its phone numbers (the oldest contact when several
    match); a row with neither, by the same name and company when exactly one
    contact has them. Learns the contacts the import creates or extends."""

    def __init__(self, business: Business, rows: list[_Row]) -> None:
        self.business = business
        self.by_email: dict[str, int] = {}
        self.by_phone: dict[str, int] = {}
        emails = sorted({e for row in rows for e in row.emails})
        phones = sorted({p for row in rows for p in row.phones})
        for chunk in _chunks(emails):
            for address, contact_id in (
                ContactEmail.objects.filter(business=business, address__in=chunk)
                .order_by("-contact_id")
                .values_list("address", "contact_id")
            ):
                self.by_email[address] = contact_id
        for chunk in _chunks(phones):
            for number, contact_id in (
                ContactPhone.objects.filter(business=business, number__in=chunk)
                .order_by("-contact_id")
                .values_list("number", "contact_id")
            ):
                self.by_phone[number] = contact_id

    def match(self, row: _Row) -> int | None:
        for address in row.emails:
            if address in self.by_email:
                return self.by_email[address]
        for number in row.phones:
            if number in self.by_phone:
                return self.by_phone[number]
        if row.emails or row.phones or not row.name:
            return None
        same = list(
            Contact.objects.filter(
                business=self.business,
                erased_at__isnull=True,
                name__iexact=row.name,
                company__iexact=row.company,
            ).values_list("pk", flat=True)[:2]
        )
        return same[0] if len(same) == 1 else None

    def learn(self, contact_id: int, row: _Row) -> None:
        for address in row.emails:
            self.by_email.setdefault(address, contact_id)
        for number in row.phones:
            self.by_phone.setdefault(number, contact_id)


def _row_create(business: Business, row: _Row) -> Contact:
    return contact_create(
        business=business,
        name=row.name,
        company=row.company,
        note=row.note,
        emails=row.emails,
        phones=row.phones,
        custom_attributes=row.attributes,
        label_ids=[label.pk for label in row.labels],
        source="import",
    )


def _row_apply(contact: Contact, row: _Row) -> bool:
    """Bring what the row has that the contact lacks or holds differently:
    name, company and note when the row gives them, e-mails, phones and
    labels added (none removed), attributes set. True when anything
    changed."""
    # One row is one change: one contact.updated, whatever it touched.
    with transaction.atomic(), webhook_events.contact_changes_together():
        return _row_changes_apply(contact, row)


def _row_changes_apply(contact: Contact, row: _Row) -> bool:
    changes: dict[str, Any] = {}
    for column in ("name", "company", "note"):
        value = getattr(row, column)
        if column in row.given and value != getattr(contact, column):
            changes[column] = value
    label_ids = {link.label_id for link in contact.label_links.all()}
    new_labels = {label.pk for label in row.labels} - label_ids
    if new_labels:
        changes["label_ids"] = sorted(label_ids | new_labels)
    if changes:
        contact_update(contact, source="import", **changes)
    emails = set(contact.emails.values_list("address", flat=True))
    phones = set(contact.phones.values_list("number", flat=True))
    new_emails = [e for e in row.emails if e not in emails]
    new_phones = [p for p in row.phones if p not in phones]
    if new_emails or new_phones:
        contact_details_add(
            contact, emails=new_emails, phones=new_phones, source="import"
        )
    attributes = contact.custom_attributes or {}
    new_attributes = {
        key: value
        for key, value in row.attributes.items()
        if _attribute_text(attributes.get(key)) != value
    }
    if new_attributes:
        contact_attributes_set(contact, new_attributes)
    return bool(changes or new_emails or new_phones or new_attributes)


def contacts_import(business: Business, upload: UploadedFile) -> ImportResult:
    """Import contacts from a CSV file (the export's columns, see the module
    docstring) into `business`.

    A row about a contact the business already has (same e-mail address or
    phone number, however it is written; for a row with neither, the same
    name and company) updates it: the name, company and note it gives
    replace the contact's, its e-mails, phones and labels are added, its
    attributes set. Other rows create contacts. A row with a bad value is
    skipped and reported (`RowError`, by row and column); the others are
    kept. Importing the same file again changes nothing.

    Raises `ContactImportInvalid` (field `file`, nothing imported) for a
    file over `IMPORT_MAX_BYTES` or `IMPORT_MAX_ROWS` rows, not UTF-8, not
    readable as CSV, or with an unknown column."""
    text = _read_text(upload)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if header is None:
            raise ContactImportInvalid("file", "The file is empty.")
        columns = _columns(header)
        lines: list[list[str]] = []
        for line in reader:
            if len(lines) >= IMPORT_MAX_ROWS:
                raise ContactImportInvalid(
                    "file",
                    f"At most {IMPORT_MAX_ROWS:,} rows a file: split it and "
                    "import each part.",
                )
            lines.append(line)
    except csv.Error as error:
        raise ContactImportInvalid("file", f"Not a CSV file: {error}.") from None

    result = ImportResult()
    labels_by_name: dict[str, Label] = {}
    for label in Label.objects.filter(business=business).order_by("-id"):
        labels_by_name[label.name.lower()] = label
    rows: list[_Row] = []
    for index, line in enumerate(lines):
        number = index + 2  # the header is row 1
        if not any(cell.strip() for cell in line):
            continue
        if len(line) > len(columns):
            result.errors.append(
                RowError(
                    number, "file", f"{len(line)} cells, the header has {len(columns)}."
                )
            )
            continue
        cells = {
            column: cell_read(line[i]) if i < len(line) else ""
            for i, column in enumerate(columns)
            if column != "created_at"
        }
        parsed = _row_parsed(number, cells, business, labels_by_name)
        if isinstance(parsed, RowError):
            result.errors.append(parsed)
        else:
            rows.append(parsed)

    matcher = _Matcher(business, rows)
    for row in rows:
        contact_id = matcher.match(row)
        try:
            with transaction.atomic():
                if contact_id is None:
                    contact = _row_create(business, row)
                    result.created += 1
                else:
                    contact = Contact.objects.prefetch_related("label_links").get(
                        pk=contact_id
                    )
                    if _row_apply(contact, row):
                        result.updated += 1
                    else:
                        result.unchanged += 1
        except ContactInvalid as error:
            result.errors.append(RowError(row.number, error.field, error.detail))
            continue
        matcher.learn(contact.pk, row)
    result.errors.sort(key=lambda error: error.row)
    return result

"""Contacts pages: the list (search, label filter, CSV export and import) and
one contact (details, e-mails, phones, labels, custom attributes,
identities, conversations on every channel, data download and erasure).

Login required; members of the business only (others get 403). Another
business's contact answers 404 like an unknown one. Every member edits a
contact; only admins import and erase (403 for agents, nothing changes).
Writes go through `contacts.services`; a refused value is shown beside its
field (answer 400) and the form keeps what was typed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods, require_POST
from rest_framework import serializers

from billing.models import Member
from billing.permissions import member_of
from contacts.api.serializers import ContactInputSerializer
from contacts.phones import phone_display
from contacts.selectors.contacts import (
    contact_conversations,
    contact_data,
    contact_get,
    contact_label_rows,
    contact_list_rows,
    contact_page_details,
    label_for_filter,
)
from contacts.services.contacts import (
    ContactInvalid,
    contact_attributes_set,
    contact_update,
)
from contacts.services.rights import contact_erase
from contacts.services.transfer import (
    IMPORT_MAX_BYTES,
    IMPORT_MAX_ROWS,
    ContactImportInvalid,
    contacts_csv_lines,
    contacts_import,
)
from conversations.models import Contact
from workspace.models import Label

PAGE_SIZE = 25
Q_MAX_LENGTH = 200
CONVERSATIONS_SHOWN = 100


def _member(request: HttpRequest) -> Member:
    member = member_of(request.user)
    if member is None:
        raise PermissionDenied("Only members of a business see its contacts.")
    return member


def _admin(request: HttpRequest) -> Member:
    member = _member(request)
    if not member.is_admin:
        raise PermissionDenied("Only admins may do this.")
    return member


def _contact(member: Member, contact_id: int) -> Contact:
    try:
        return contact_get(member.business, contact_id)
    except Contact.DoesNotExist as error:
        raise Http404("No such contact.") from error


def _isolated(text: str) -> str:
    """`text` isolated for a flash line, so right-to-left text cannot
    reorder the words around it."""
    return f"\u2068{text}\u2069"


# ---------------------------------------------------------------------- list


@dataclass
class ContactPage:
    """One page of the contacts list, `PAGE_SIZE` rows from the `number`th
    (1-based). Read without counting the business's contacts: a page knows
    whether another follows by asking for one row more (at 100,000
    contacts the count cost more than the page)."""

    object_list: list[Contact]
    number: int
    has_next: bool

    @classmethod
    def read(cls, contacts: QuerySet[Contact], raw_number: str | None) -> ContactPage:
        """Page `raw_number` of `contacts` (1 when missing or not a whole
        number from 1)."""
        try:
            number = max(1, int(raw_number or 1))
        except ValueError:
            number = 1
        start = (number - 1) * PAGE_SIZE
        rows = list(contacts[start : start + PAGE_SIZE + 1])
        return cls(rows[:PAGE_SIZE], number, len(rows) > PAGE_SIZE)

    def __iter__(self):
        return iter(self.object_list)

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1


def _list_page(
    request: HttpRequest,
    member: Member,
    *,
    import_result: dict[str, Any] | None = None,
    import_error: str = "",
    status: int = 200,
) -> HttpResponse:
    business = member.business
    source = request.GET
    q = source.get("q", "")[:Q_MAX_LENGTH]
    label_value = source.get("label", "")
    label = label_for_filter(business, label_value) if label_value else None
    page = ContactPage.read(
        contact_list_rows(business, q=q, label=label), source.get("page")
    )
    contact_page_details(page.object_list)
    query = {"q": q, "label": str(label.pk) if label else ""}
    return render(
        request,
        "contacts/list.html",
        {
            "page": page,
            "q": q,
            "label": label,
            "unknown_label": bool(label_value) and label is None,
            "labels": Label.objects.filter(business=business).order_by("name"),
            "query": urlencode({k: v for k, v in query.items() if v}),
            "can_import": member.is_admin,
            "import_result": import_result,
            "import_error": import_error,
            "import_max_mb": IMPORT_MAX_BYTES // 2**20,
            "import_max_rows": IMPORT_MAX_ROWS,
        },
        status=status,
    )


@login_required
def contacts_page(request: HttpRequest) -> HttpResponse:
    """`/contacts/`: the business's contacts, newest first, 25 a page;
    `?q=` searches names, companies, e-mails, phones and handles; `?label=`
    (an id or a name) keeps those with the label."""
    return _list_page(request, _member(request))


@login_required
def contacts_export(request: HttpRequest) -> StreamingHttpResponse:
    """`/contacts/export.csv`: the CSV export (see
    `contacts.services.transfer`), streamed; any member."""
    member = _member(request)
    response = StreamingHttpResponse(
        contacts_csv_lines(member.business), content_type="text/csv; charset=utf-8"
    )
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="contacts-{day}.csv"'
    return response


@login_required
@require_POST
def contacts_import_page(request: HttpRequest) -> HttpResponse:
    """Import an uploaded CSV file (admins) and show the list with the
    result: created, updated, unchanged, and the refused rows by row and
    column. A file that cannot be read answers 400 with why."""
    member = _admin(request)
    upload = request.FILES.get("file")
    if upload is None:
        return _list_page(
            request, member, import_error="Choose a CSV file to import.", status=400
        )
    try:
        result = contacts_import(member.business, upload)
    except ContactImportInvalid as error:
        return _list_page(request, member, import_error=error.detail, status=400)
    return _list_page(request, member, import_result=result.as_dict())


# ------------------------------------------------------------------- contact


FORMS = (
    "details",
    "email-add",
    "email-remove",
    "phone-add",
    "phone-remove",
    "labels",
    "attribute-set",
    "attribute-remove",
)


def _serializer_errors(error: serializers.ValidationError) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for field, problems in error.detail.items():
        if isinstance(problems, dict):
            problems = [p for group in problems.values() for p in group]
        if not isinstance(problems, list | tuple):
            problems = [problems]
        lines[field] = [str(problem) for problem in problems]
    return lines


def _apply(contact: Contact, form: str, post) -> str:
    """Apply one of the contact page's forms; the flash line. Raises
    `ContactInvalid` or DRF's `ValidationError` for a refused value."""
    if form == "details":
        serializer = ContactInputSerializer(
            data={
                "name": post.get("name", ""),
                "company": post.get("company", ""),
                "note": post.get("note", ""),
            },
            context={"business": contact.business},
        )
        serializer.is_valid(raise_exception=True)
        contact_update(contact, **serializer.validated_data)
        return gettext("Saved.")
    emails = [e.address for e in contact.emails.all()]
    phones = [p.number for p in contact.phones.all()]
    if form == "email-add":
        address = post.get("email", "").strip()
        if not address:
            raise ContactInvalid("email", gettext("Enter an e-mail address."))
        try:
            contact_update(contact, emails=[*emails, address])
        except ContactInvalid as error:
            raise ContactInvalid("email", error.detail) from None
        return f"Added {_isolated(address.lower())}."
    if form == "email-remove":
        address = post.get("email", "")
        contact_update(contact, emails=[e for e in emails if e != address])
        return f"Removed {_isolated(address)}."
    if form == "phone-add":
        number = post.get("phone", "").strip()
        if not number:
            raise ContactInvalid("phone", gettext("Enter a phone number."))
        try:
            contact_update(contact, phones=[*phones, number])
        except ContactInvalid as error:
            raise ContactInvalid("phone", error.detail) from None
        return f"Added {_isolated(number)}."
    if form == "phone-remove":
        number = post.get("phone", "")
        contact_update(contact, phones=[p for p in phones if p != number])
        return f"Removed {_isolated(phone_display(number))}."
    if form == "labels":
        try:
            label_ids = [int(value) for value in post.getlist("labels")]
        except ValueError:
            raise ContactInvalid(
                "labels", gettext("Choose labels of this business.")
            ) from None
        contact_update(contact, label_ids=label_ids)
        return gettext("Labels saved.")
    if form == "attribute-set":
        key = post.get("key", "").strip()
        value = post.get("value", "")
        if not key:
            raise ContactInvalid("key", gettext("Enter the attribute's name."))
        try:
            contact_attributes_set(contact, {key: value})
        except ContactInvalid as error:
            field = "value" if error.detail.startswith(f"{key}:") else "key"
            raise ContactInvalid(field, error.detail) from None
        return f"Saved {_isolated(key)}."
    if form == "attribute-remove":
        key = post.get("key", "")
        if key in (contact.custom_attributes or {}):
            contact_attributes_set(contact, {key: None})
        return f"Removed {_isolated(key)}."
    raise ContactInvalid("form", gettext("Unknown form."))


@login_required
@require_http_methods(["GET", "POST"])
def contact_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    """`/contacts/<id>/`: the contact. POST one of its forms (`form`:
    details, email-add, email-remove, phone-add, phone-remove, labels,
    attribute-set, attribute-remove); saved: back to the page; refused:
    the page again (400) with the error beside the field and what was
    typed kept."""
    member = _member(request)
    contact = _contact(member, contact_id)
    errors: dict[str, list[str]] = {}
    form = ""
    if request.method == "POST":
        form = request.POST.get("form", "")
        if contact.erased_at:
            raise PermissionDenied("This contact's data was erased.")
        if form not in FORMS:
            errors = {"form": [gettext("Unknown form.")]}
        else:
            try:
                line = _apply(contact, form, request.POST)
            except ContactInvalid as error:
                errors = {error.field: [error.detail]}
            except serializers.ValidationError as error:
                errors = _serializer_errors(error)
            else:
                flash.success(request, line)
                return redirect("contact", contact_id=contact.pk)
        contact = _contact(member, contact_id)
    values = {
        "name": contact.name,
        "company": contact.company,
        "note": contact.note,
        "email": "",
        "phone": "",
        "key": "",
        "value": "",
    }
    if errors:
        for field in values:
            if field in request.POST:
                values[field] = request.POST[field]
    label_ids = {row["id"] for row in contact_label_rows(contact)}
    attribute_key = request.POST.get("key", "") if errors else ""
    attribute_is_existing = form == "attribute-set" and attribute_key in (
        contact.custom_attributes or {}
    )
    return render(
        request,
        "contacts/contact.html",
        {
            "contact": contact,
            "emails": [e.address for e in contact.emails.all()],
            "phones": [
                (p.number, phone_display(p.number)) for p in contact.phones.all()
            ],
            "label_rows": contact_label_rows(contact),
            "labels": [
                (label, label.pk in label_ids)
                for label in Label.objects.filter(business=member.business).order_by(
                    "name"
                )
            ],
            "attributes": sorted((contact.custom_attributes or {}).items()),
            "identities": list(contact.identities.all()),
            "conversations": list(contact_conversations(contact)[:CONVERSATIONS_SHOWN]),
            "conversations_count": contact.conversations_count,
            "conversations_shown": CONVERSATIONS_SHOWN,
            "errors": errors,
            "form": form,
            "values": values,
            "attribute_key": attribute_key,
            "attribute_is_existing": attribute_is_existing,
            "attribute_new_error": form == "attribute-set"
            and bool(errors)
            and not attribute_is_existing,
            "can_erase": member.is_admin,
        },
        status=400 if errors else 200,
    )


@login_required
def contact_data_download(request: HttpRequest, contact_id: int) -> HttpResponse:
    """`/contacts/<id>/data.json`: everything held about the contact (as
    `GET /api/v1/contacts/<id>/data`), as a download."""
    member = _member(request)
    contact = _contact(member, contact_id)
    body = json.dumps(contact_data(contact), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="contact-{contact.pk}-data.json"'
    )
    return response


@login_required
@require_http_methods(["GET", "POST"])
def contact_erase_page(request: HttpRequest, contact_id: int) -> HttpResponse:
    """`/contacts/<id>/erase/` (admins): GET asks to confirm, POST erases
    (`contacts.services.rights.contact_erase`) and goes back to the
    contact."""
    member = _admin(request)
    contact = _contact(member, contact_id)
    if request.method == "POST":
        contact_erase(contact, by=request.user)
        flash.success(request, gettext("The contact's data was erased."))
        return redirect("contact", contact_id=contact.pk)
    return render(request, "contacts/erase.html", {"contact": contact})

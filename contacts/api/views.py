"""`/api/v1/contacts/`: the business's contacts over REST, their CSV export
and import, and the data-rights export and erasure.

Members (agents and admins) list, read, create and change contacts and
download the export. Only admins delete, erase and import (agents get 403
and nothing changes). Another business's contact answers 404 exactly like an
id that does not exist, as does an id that is not a whole number.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from billing.permissions import business_of, member_of
from contacts.api.serializers import (
    ContactDataSerializer,
    ContactInputSerializer,
    ContactOutputSerializer,
    ImportResultSerializer,
    ImportUploadSerializer,
)
from contacts.selectors.contacts import (
    contact_conversations,
    contact_data,
    contact_get,
    contact_list,
    label_for_filter,
)
from contacts.services.contacts import contact_create, contact_delete, contact_update
from contacts.services.rights import contact_erase
from contacts.services.transfer import contacts_csv_lines, contacts_import
from conversations.api.serializers import ConversationSerializer
from conversations.api.views import InboxCursorPagination, StrictPageSizeMixin
from conversations.models import Contact
from pingback.api import error_responses
from pingback.errors import ApplicationError

Q_MAX_LENGTH = 200
ADMINS_ONLY = "Only a business admin may do this."

CONTACT_ID = OpenApiParameter(
    "contact_id",
    int,
    OpenApiParameter.PATH,
    description="Id of a contact of the caller's business (anything else answers 404).",
)
Q = OpenApiParameter(
    "q",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Keep the contacts whose name, company, e-mail address, phone "
    "number (typed any way) or handle contains every word of it, ignoring case "
    f"(at most {Q_MAX_LENGTH} characters).",
)
LABEL = OpenApiParameter(
    "label",
    str,
    OpenApiParameter.QUERY,
    required=False,
    description="Keep the contacts with this label: its id or its name "
    "(ignoring case). An unknown label answers 400 naming `label`.",
)


class ContactErased(ApplicationError):
    """The contact's data was erased: it cannot be changed any more (409)."""

    status_code = 409
    code = "contact_erased"


class ContactPagination(StrictPageSizeMixin, CursorPagination):
    """Newest contact first; `?cursor=` from `next`; `page_size` up to 100."""

    # Newest first: ids grow as contacts are created, and `contact_list_idx`
    # (business, -id) serves the page without sorting the business's contacts.
    ordering = ("-id",)
    page_size = 25
    max_page_size = 100


class JsonErrorsNegotiation(BaseContentNegotiation):
    """For the CSV export: its body is CSV whatever the `Accept` header says
    (so `Accept: text/csv` is fine), and its errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return (renderers[0], renderers[0].media_type)


def _admin_only(request: Request) -> None:
    member = member_of(request.user)
    if member is None or not member.is_admin:
        raise PermissionDenied(ADMINS_ONLY)


def _changes(data: dict[str, Any]) -> dict[str, Any]:
    """Validated input as `contact_create` / `contact_update` keywords."""
    changes = dict(data)
    if "labels" in changes:
        changes["label_ids"] = changes.pop("labels")
    return changes


class ContactViewSet(viewsets.GenericViewSet):
    """The business's contacts. Errors: 400 a bad field (named: `emails`,
    `phones`, `custom_attributes`, `labels`, ...) or filter, 401, 403 (not a
    member, or an agent deleting, erasing or importing), 404 unknown contact
    or another business's, 409 changing an erased contact, 415."""

    # For the schema only; reads go through the selectors, scoped to the
    # caller's business.
    queryset = Contact.objects.none()
    pagination_class = ContactPagination
    filter_backends: list = []
    lookup_field = "contact_id"
    # Any segment reaches the lookup, so a malformed id is a JSON 404 too.
    lookup_value_regex = "[^/]+"
    http_method_names = ["get", "post", "put", "patch", "delete"]

    def _contact(self, request: Request, contact_id: str) -> Contact:
        try:
            return contact_get(business_of(request), int(contact_id))
        except (Contact.DoesNotExist, ValueError) as error:
            raise Http404("No such contact.") from error

    def _output(self, request: Request, contact: Contact) -> dict[str, Any]:
        return ContactOutputSerializer(
            contact_get(business_of(request), contact.pk)
        ).data

    @extend_schema(
        parameters=[Q, LABEL],
        responses={
            200: ContactOutputSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    def list(self, request: Request) -> Response:
        """The business's contacts, newest first (cursor pagination), erased
        ones left out. 400 for a `q` over 200 characters or an unknown
        `label`; 404 for an invalid `cursor`."""
        business = business_of(request)
        q = request.query_params.get("q", "")
        if len(q) > Q_MAX_LENGTH:
            raise ValidationError({"q": [f"At most {Q_MAX_LENGTH} characters."]})
        label = None
        label_value = request.query_params.get("label", "").strip()
        if label_value:
            label = label_for_filter(business, label_value)
            if label is None:
                raise ValidationError({"label": ["No such label in this business."]})
        page = self.paginate_queryset(contact_list(business, q=q, label=label))
        return self.get_paginated_response(
            ContactOutputSerializer(page, many=True).data
        )

    @extend_schema(
        parameters=[CONTACT_ID],
        responses={200: ContactOutputSerializer, **error_responses(401, 403, 404)},
    )
    def retrieve(self, request: Request, contact_id: str) -> Response:
        """One contact."""
        return Response(
            ContactOutputSerializer(self._contact(request, contact_id)).data
        )

    @extend_schema(
        request=ContactInputSerializer,
        responses={
            201: ContactOutputSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    def create(self, request: Request) -> Response:
        """Create a contact. A bad field answers 400 naming it (an address
        that is not one, a number that is not a phone number, another
        business's label, ...) and nothing is created."""
        business = business_of(request)
        serializer = ContactInputSerializer(
            data=request.data, context={"business": business}
        )
        serializer.is_valid(raise_exception=True)
        contact = contact_create(
            business=business, source="api", **_changes(serializer.validated_data)
        )
        return Response(self._output(request, contact), status=status.HTTP_201_CREATED)

    def _update(self, request: Request, contact_id: str) -> Response:
        contact = self._contact(request, contact_id)
        if contact.erased_at:
            raise ContactErased("This contact's data was erased.")
        serializer = ContactInputSerializer(
            data=request.data, context={"business": contact.business}
        )
        serializer.is_valid(raise_exception=True)
        contact = contact_update(
            contact, source="api", **_changes(serializer.validated_data)
        )
        return Response(self._output(request, contact))

    @extend_schema(
        parameters=[CONTACT_ID],
        request=ContactInputSerializer,
        responses={
            200: ContactOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    def partial_update(self, request: Request, contact_id: str) -> Response:
        """Change what is sent, leave the rest (lists sent replace the
        contact's). A bad field answers 400 naming it and nothing changes;
        409 when the contact was erased."""
        return self._update(request, contact_id)

    @extend_schema(
        parameters=[CONTACT_ID],
        request=ContactInputSerializer,
        responses={
            200: ContactOutputSerializer,
            **error_responses(400, 401, 403, 404, 409, 415),
        },
    )
    def update(self, request: Request, contact_id: str) -> Response:
        """As PATCH: the fields sent are changed, the others kept."""
        return self._update(request, contact_id)

    @extend_schema(
        parameters=[CONTACT_ID],
        request=None,
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def destroy(self, request: Request, contact_id: str) -> Response:
        """Delete the contact with its identities and conversations (admins).
        To forget a customer but keep the counts in reports, use `erase`."""
        _admin_only(request)
        contact_delete(self._contact(request, contact_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[CONTACT_ID],
        request=None,
        responses={
            200: ConversationSerializer(many=True),
            **error_responses(400, 401, 403, 404),
        },
    )
    @action(detail=True, methods=["get"], pagination_class=InboxCursorPagination)
    def conversations(self, request: Request, contact_id: str) -> Response:
        """The contact's conversations on every channel, newest activity
        first (cursor pagination, as the conversations list)."""
        contact = self._contact(request, contact_id)
        page = self.paginate_queryset(contact_conversations(contact))
        return self.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(
        operation_id="v1_contacts_export",
        request=None,
        responses={
            (200, "text/csv"): OpenApiResponse(
                str,
                description="The business's contacts as CSV (columns name, "
                "company, emails, phones, labels, attr:<key> for each custom "
                "attribute key, note, created_at), streamed. Cells starting "
                "with = + - @ begin with '.",
            ),
            **error_responses(401, 403),
        },
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export.csv",
        url_name="export",
        renderer_classes=[JSONRenderer],
        content_negotiation_class=JsonErrorsNegotiation,
        pagination_class=None,
    )
    def export(self, request: Request) -> StreamingHttpResponse:
        """Download all of the business's contacts as CSV (any member)."""
        business = business_of(request)
        response = StreamingHttpResponse(
            contacts_csv_lines(business), content_type="text/csv; charset=utf-8"
        )
        day = timezone.localdate().isoformat()
        response["Content-Disposition"] = f'attachment; filename="contacts-{day}.csv"'
        return response

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={
            200: ImportResultSerializer,
            **error_responses(400, 401, 403, 415),
        },
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        url_name="import",
        parser_classes=[MultiPartParser],
        pagination_class=None,
    )
    def import_csv(self, request: Request) -> Response:
        """Import contacts from a CSV file (admins; the export's columns, at
        most 5 MB and 10,000 rows). A row about an existing contact (same
        e-mail address or phone number) updates it instead of adding one.
        Rows with a bad value are reported by row and column and skipped;
        the others are kept. 400 naming `file` when the file as a whole
        cannot be read (too large, not UTF-8 CSV, unknown column): nothing
        is imported then."""
        _admin_only(request)
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        result = contacts_import(business_of(request), upload.validated_data["file"])
        return Response(result.as_dict())

    @extend_schema(
        parameters=[CONTACT_ID],
        request=None,
        responses={200: ContactDataSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def data(self, request: Request, contact_id: str) -> Response:
        """Everything PingBack holds about the contact, for a customer's
        request to see their data: details, e-mails, phones, labels,
        identities, and every conversation with all its messages (notes and
        activity included; attachments as descriptors)."""
        contact = self._contact(request, contact_id)
        response = Response(contact_data(contact))
        response["Content-Disposition"] = (
            f'attachment; filename="contact-{contact.pk}-data.json"'
        )
        return response

    @extend_schema(
        parameters=[CONTACT_ID],
        request=None,
        responses={200: ContactOutputSerializer, **error_responses(401, 403, 404)},
    )
    @action(detail=True, methods=["post"], pagination_class=None)
    def erase(self, request: Request, contact_id: str) -> Response:
        """Erase the contact's data (admins): its messages' content and
        files, its conversations' subjects and previews, its identities,
        e-mails, phones, labels, attributes and note; it becomes "Erased
        contact". Its conversations and messages stay as empty rows, so
        counts in reports remain; each conversation records who erased it.
        Cannot be undone."""
        _admin_only(request)
        contact = contact_erase(self._contact(request, contact_id), by=request.user)
        return Response(self._output(request, contact))

"""`/api/v1/contacts/{id}/merge`, `.../merge_preview`, `.../merge_suggestions`
and `.../merge_suggestions/dismiss`: merging two contacts that are the same
person (see `contacts.services.merge`), over REST.

Bearer token (or session) of a member of the business; both contacts must be
the caller's business's: any other id (another business's, unknown, not a
whole number) answers 404. `other_id` missing, not a whole number, or the
contact itself answers 400 naming `other_id`.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.permissions import IsBusinessMember, business_of
from contacts.naming import contact_display_name
from contacts.selectors.merge import (
    contact_merge_preview,
    contacts_with_fallbacks,
    merge_suggestions,
)
from contacts.services.merge import MergeInvalid, contact_merge, merge_dismiss
from conversations.models import Contact
from pingback.api import error_responses

CONTACT_ID = OpenApiParameter(
    "contact_id",
    int,
    OpenApiParameter.PATH,
    description="Id of a contact of the caller's business (anything else "
    "answers 404). In a merge, this contact is kept.",
)
OTHER_ID_QUERY = OpenApiParameter(
    "other_id",
    int,
    OpenApiParameter.QUERY,
    required=True,
    description="Id of the other contact of the caller's business (the one "
    "merged into the contact, then deleted).",
)


class OtherIdSerializer(serializers.Serializer):
    """`other_id`: the other contact's id."""

    other_id = serializers.IntegerField(min_value=1)


class MergeMovedSerializer(serializers.Serializer):
    identities = serializers.DictField(
        child=serializers.IntegerField(),
        help_text='Identities moved, by channel type (`{"email": 1}`).',
    )
    conversations = serializers.IntegerField()
    messages = serializers.IntegerField(
        help_text="Messages whose sender was the other contact."
    )
    emails = serializers.IntegerField(help_text="Addresses moved (duplicates dropped).")
    phones = serializers.IntegerField(help_text="Numbers moved (duplicates dropped).")
    labels = serializers.IntegerField(help_text="Labels added to the kept contact.")
    attributes = serializers.ListField(
        child=serializers.CharField(), help_text="Attribute keys added."
    )
    conflicts = serializers.ListField(
        child=serializers.DictField(),
        help_text="`{key, kept, other}` where both held a different value: the "
        "kept contact's stays, the other's is written into its note.",
    )


class MergeResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The kept contact's id.")
    merged_id = serializers.IntegerField(help_text="The deleted contact's id.")
    merged_name = serializers.CharField()
    moved = MergeMovedSerializer()
    activity = serializers.IntegerField(
        help_text="Activity entries written on the kept contact's conversations."
    )


class MergePreviewSerializer(serializers.Serializer):
    kept_name = serializers.CharField()
    other_name = serializers.CharField()
    identities = serializers.DictField(child=serializers.IntegerField())
    conversations = serializers.IntegerField()
    emails = serializers.ListField(child=serializers.CharField())
    phones = serializers.ListField(child=serializers.CharField())
    labels = serializers.ListField(child=serializers.CharField())
    attributes = serializers.ListField(child=serializers.CharField())
    conflicts = serializers.ListField(child=serializers.DictField())
    note = serializers.BooleanField(help_text="Whether the other's note is appended.")


class MergeSuggestionSerializer(serializers.Serializer):
    other_id = serializers.IntegerField()
    name = serializers.CharField(help_text="The other contact's display name.")
    reason = serializers.CharField(
        help_text="`same e-mail <address>` or `same phone <number>`."
    )


def contact_of(request: Request, contact_id: object) -> Contact:
    """A contact of the caller's business (with the display-name fallbacks);
    `Http404` otherwise."""
    try:
        return contacts_with_fallbacks(
            Contact.objects.filter(business=business_of(request))
        ).get(pk=int(contact_id))
    except (Contact.DoesNotExist, TypeError, ValueError) as error:
        raise Http404("No such contact.") from error


def _other_of(request: Request, data, contact: Contact) -> Contact:
    """The `other_id` contact of `data` (body or query string): 400 naming
    `other_id` when missing, malformed or `contact` itself; 404 when not the
    business's."""
    field = OtherIdSerializer(data=data)
    field.is_valid(raise_exception=True)
    other_id = field.validated_data["other_id"]
    if other_id == contact.pk:
        raise MergeInvalid("other_id", "A contact cannot be merged into itself.")
    return contact_of(request, other_id)


class ContactMergeView(APIView):
    """`POST /api/v1/contacts/{contact_id}/merge`."""

    permission_classes = [IsBusinessMember]

    @extend_schema(
        operation_id="contacts_merge",
        parameters=[CONTACT_ID],
        request=OtherIdSerializer,
        responses={
            200: MergeResultSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def post(self, request: Request, contact_id: str) -> Response:
        """Merge contact `other_id` into this one, then delete it: its
        identities, conversations, messages' sender, e-mail addresses, phone
        numbers, labels, attributes (this contact's value wins; the other's
        goes into the note) and note move here, in one transaction; an
        activity entry is written on each conversation. 400 naming `other_id`
        (missing, this contact itself, an erased contact); 404 when either
        contact is not the caller's business's."""
        kept = contact_of(request, contact_id)
        other = _other_of(request, request.data, kept)
        result = contact_merge(kept=kept, other=other, by=request.user)
        return Response(MergeResultSerializer(result.as_dict()).data)


class ContactMergePreviewView(APIView):
    """`GET /api/v1/contacts/{contact_id}/merge_preview?other_id=`."""

    permission_classes = [IsBusinessMember]

    @extend_schema(
        operation_id="contacts_merge_preview",
        parameters=[CONTACT_ID, OTHER_ID_QUERY],
        responses={200: MergePreviewSerializer, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request: Request, contact_id: str) -> Response:
        """What merging `other_id` into this contact would move, changing
        nothing: identities by channel type, conversations, the e-mail
        addresses, phone numbers and labels this contact lacks, attribute
        keys added and conflicts (both values)."""
        kept = contact_of(request, contact_id)
        other = _other_of(request, request.query_params, kept)
        return Response(
            MergePreviewSerializer(contact_merge_preview(kept, other).as_dict()).data
        )


class ContactMergeSuggestionsView(APIView):
    """`GET /api/v1/contacts/{contact_id}/merge_suggestions`."""

    permission_classes = [IsBusinessMember]

    @extend_schema(
        operation_id="contacts_merge_suggestions",
        parameters=[CONTACT_ID],
        responses={
            200: MergeSuggestionSerializer(many=True),
            **error_responses(401, 403, 404),
        },
    )
    def get(self, request: Request, contact_id: str) -> Response:
        """Up to three other contacts of the business sharing an e-mail
        address or a phone number with this one (not erased, not dismissed),
        each with the reason. Nothing is merged by itself."""
        contact = contact_of(request, contact_id)
        rows = [
            {
                "other_id": suggestion.other.pk,
                "name": suggestion.name,
                "reason": suggestion.reason,
            }
            for suggestion in merge_suggestions(contact)
        ]
        return Response(MergeSuggestionSerializer(rows, many=True).data)


class ContactMergeDismissView(APIView):
    """`POST /api/v1/contacts/{contact_id}/merge_suggestions/dismiss`."""

    permission_classes = [IsBusinessMember]

    @extend_schema(
        operation_id="contacts_merge_suggestions_dismiss",
        parameters=[CONTACT_ID],
        request=OtherIdSerializer,
        responses={
            200: MergeSuggestionSerializer,
            **error_responses(400, 401, 403, 404, 415),
        },
    )
    def post(self, request: Request, contact_id: str) -> Response:
        """ "Not the same person": the pair is no longer suggested (either way
        round). Idempotent. Answers the dismissed suggestion's contact."""
        contact = contact_of(request, contact_id)
        other = _other_of(request, request.data, contact)
        merge_dismiss(contact, other, request.user)
        return Response(
            MergeSuggestionSerializer(
                {
                    "other_id": other.pk,
                    "name": str(contact_display_name(other)),
                    "reason": "dismissed",
                }
            ).data
        )

"""API paths of contact merges (included under `api/v1/`, before the
router); see `contacts.api.merge_views`."""

from django.urls import re_path

from contacts.api import merge_views

# Any segment reaches the view, so a malformed id is a JSON 404 too; the
# trailing slash is optional, as with the router's detail URLs.
urlpatterns = [
    re_path(
        r"^contacts/(?P<contact_id>[^/]+)/merge/?$",
        merge_views.ContactMergeView.as_view(),
        name="contact-merge",
    ),
    re_path(
        r"^contacts/(?P<contact_id>[^/]+)/merge_preview/?$",
        merge_views.ContactMergePreviewView.as_view(),
        name="contact-merge-preview",
    ),
    re_path(
        r"^contacts/(?P<contact_id>[^/]+)/merge_suggestions/?$",
        merge_views.ContactMergeSuggestionsView.as_view(),
        name="contact-merge-suggestions",
    ),
    re_path(
        r"^contacts/(?P<contact_id>[^/]+)/merge_suggestions/dismiss/?$",
        merge_views.ContactMergeDismissView.as_view(),
        name="contact-merge-dismiss",
    ),
]

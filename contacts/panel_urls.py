"""Page URLs of the customer panel's actions (see `contacts.panel_views`)."""

from django.urls import path

from contacts import panel_views

urlpatterns = [
    path(
        "conversations/<int:conversation_id>/panel/attribute/",
        panel_views.panel_attribute,
        name="panel-attribute",
    ),
    path(
        "conversations/<int:conversation_id>/panel/note/",
        panel_views.panel_note,
        name="panel-note",
    ),
    path(
        "conversations/<int:conversation_id>/panel/merge-preview/",
        panel_views.panel_merge_preview,
        name="panel-merge-preview",
    ),
    path(
        "conversations/<int:conversation_id>/panel/merge/",
        panel_views.panel_merge,
        name="panel-merge",
    ),
    path(
        "conversations/<int:conversation_id>/panel/dismiss/",
        panel_views.panel_merge_dismiss,
        name="panel-merge-dismiss",
    ),
]

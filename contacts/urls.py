"""Contacts pages (`contacts.views`)."""

from django.urls import path

from contacts import views

urlpatterns = [
    path("contacts/", views.contacts_page, name="contacts"),
    path("contacts/export.csv", views.contacts_export, name="contacts-export"),
    path("contacts/import/", views.contacts_import_page, name="contacts-import"),
    path("contacts/<int:contact_id>/", views.contact_page, name="contact"),
    path(
        "contacts/<int:contact_id>/data.json",
        views.contact_data_download,
        name="contact-data",
    ),
    path(
        "contacts/<int:contact_id>/erase/",
        views.contact_erase_page,
        name="contact-erase",
    ),
]

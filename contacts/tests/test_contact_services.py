"""The contact services every contact feature writes through."""

import pytest

from billing.tests.factories import BusinessFactory
from contacts.models import ContactEmail, ContactPhone
from contacts.services.contacts import (
    ContactInvalid,
    contact_attributes_set,
    contact_create,
    contact_details_add,
    contact_update,
)
from conversations.search import contacts_matching
from conversations.tests.factories import ContactIdentityFactory
from workspace.models import Label

pytestmark = pytest.mark.django_db


def test_create_normalises_addresses_and_numbers():
    business = BusinessFactory(default_country="PT")
    contact = contact_create(
        business=business,
        name=" Ana Lima ",
        emails=["Ana@Example.COM", "ana@example.com"],
        phones=["912 345 678", "+351912345678"],
    )
    assert contact.name == "Ana Lima"
    assert list(contact.emails.values_list("address", flat=True)) == ["ana@example.com"]
    assert list(contact.phones.values_list("number", flat=True)) == ["+351912345678"]
    assert "ana@example.com" in contact.search_text
    assert "351912345678" in contact.search_text


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("emails", {"emails": ["not an address"]}),
        ("phones", {"phones": ["call me"]}),
        ("custom_attributes", {"custom_attributes": {"Bad Key": 1}}),
        ("custom_attributes", {"custom_attributes": {"nested": {"a": 1}}}),
    ],
)
def test_bad_values_name_their_field(field, values):
    with pytest.raises(ContactInvalid) as refused:
        contact_create(business=BusinessFactory(), **values)
    assert refused.value.field == field


def test_labels_of_another_business_are_refused():
    business = BusinessFactory()
    foreign = Label.objects.create(business=BusinessFactory(), name="vip")
    with pytest.raises(ContactInvalid) as refused:
        contact_create(business=business, label_ids=[foreign.pk])
    assert refused.value.field == "labels"


def test_update_replaces_lists_and_keeps_what_is_not_given():
    business = BusinessFactory()
    vip = Label.objects.create(business=business, name="vip")
    contact = contact_create(
        business=business, name="Bo", company="Acme", emails=["bo@a.example"]
    )
    contact_update(contact, emails=["bo@b.example"], label_ids=[vip.pk])
    contact.refresh_from_db()
    assert contact.company == "Acme"
    assert list(contact.emails.values_list("address", flat=True)) == ["bo@b.example"]
    assert list(contact.label_links.values_list("label__name", flat=True)) == ["vip"]
    assert "bo@a.example" not in contact.search_text


def test_attributes_set_changes_some_keys_and_removes_with_null():
    contact = contact_create(
        business=BusinessFactory(), custom_attributes={"plan": "gold", "orders": 3}
    )
    assert contact_attributes_set(contact, {"orders": 4, "plan": None}) == {"orders": 4}


def test_details_add_skips_what_does_not_parse_and_keeps_the_rest():
    contact = contact_create(business=BusinessFactory(), emails=["a@x.example"])
    contact_details_add(
        contact, emails=["nope", "b@x.example"], phones=["14155550100"], source="email"
    )
    assert ContactEmail.objects.filter(contact=contact).count() == 2
    assert ContactPhone.objects.get(contact=contact).number == "+14155550100"


def test_contacts_match_by_name_handle_and_phone_in_any_format_within_the_business():
    business = BusinessFactory(default_country="US")
    ana = contact_create(business=business, name="Ana Lima", phones=["+14155550100"])
    identity = ContactIdentityFactory(contact__business=business, handle="bobby")
    from contacts.search_text import search_text_refresh

    search_text_refresh([identity.contact_id])
    contact_create(business=BusinessFactory(), name="Ana Lima")

    assert list(contacts_matching(business, "ana li")) == [ana]
    assert list(contacts_matching(business, "(415) 555-0100")) == [ana]
    assert list(contacts_matching(business, "@bobby")) == [identity.contact]


def test_text_longer_than_its_column_is_refused_naming_the_field():
    business = BusinessFactory()
    with pytest.raises(ContactInvalid) as refused:
        contact_create(business=business, name="n" * 201)
    assert refused.value.field == "name"
    contact = contact_create(business=business, name="Ana")
    with pytest.raises(ContactInvalid) as refused:
        contact_update(contact, name="Bea", company="c" * 201)
    assert refused.value.field == "company"
    contact.refresh_from_db()
    assert contact.name == "Ana"

"""The contacts pages: the list (search, label filter, export, import), one
contact (edit with errors kept, e-mails, phones, labels, attributes), data
download and erasure, and who may see and do what."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from billing.tests.factories import BusinessFactory, UserFactory
from contacts.services.contacts import contact_create
from conversations.models import Contact
from conversations.tests.factories import ContactIdentityFactory, ConversationFactory
from workspace.models import Label

pytestmark = pytest.mark.django_db


def _client(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.fixture
def admin(admin_member):
    return _client(admin_member)


@pytest.fixture
def agent(agent_member):
    return _client(agent_member)


def test_list_searches_and_filters_by_label(agent, agent_member):
    business = agent_member.business
    vip = Label.objects.create(business=business, name="vip")
    contact_create(business=business, name="Ana Lima", label_ids=[vip.pk])
    contact_create(business=business, name="Bob Stone", emails=["bob@example.com"])
    contact_create(business=BusinessFactory(), name="Ana Elsewhere")

    page = agent.get("/contacts/").content.decode()
    assert "Ana Lima" in page and "Bob Stone" in page
    assert "Ana Elsewhere" not in page
    assert "Export CSV" in page
    assert "Import CSV" not in page  # agents do not import

    found = agent.get("/contacts/", {"q": "bob@example"}).content.decode()
    assert "Bob Stone" in found and "Ana Lima" not in found
    labelled = agent.get("/contacts/", {"label": vip.pk}).content.decode()
    assert "Ana Lima" in labelled and "Bob Stone" not in labelled


def test_list_pages_through_many_contacts(agent, agent_member):
    for i in range(30):
        contact_create(business=agent_member.business, name=f"Customer {i:02d}")
    first = agent.get("/contacts/").content.decode()
    second = agent.get("/contacts/", {"page": 2}).content.decode()
    assert "Customer 29" in first and "Customer 00" not in first
    assert "Customer 00" in second and "Page 2" in second
    assert 'rel="next"' in first and 'rel="next"' not in second


def test_contact_page_shows_details_identities_and_conversations(agent, agent_member):
    business = agent_member.business
    ana = contact_create(
        business=business,
        name="Ana Lima",
        emails=["ana@example.com"],
        phones=["+14155550100"],
        custom_attributes={"plan": "pro"},
    )
    identity = ContactIdentityFactory(contact=ana, handle="ana_handle")
    conversation = ConversationFactory(
        business=business, contact=ana, contact_identity=identity
    )

    page = agent.get(f"/contacts/{ana.pk}/").content.decode()

    assert "ana@example.com" in page
    assert "+1 415-555-0100" in page
    assert "ana_handle" in page
    assert "plan" in page and 'value="pro"' in page
    assert f"/conversations/{conversation.pk}/" in page
    assert "Download data (JSON)" in page
    assert "Erase…" not in page  # agents do not erase


def test_edit_saves_and_a_refused_value_keeps_what_was_typed(agent, agent_member):
    ana = contact_create(business=agent_member.business, name="Ana")
    saved = agent.post(
        f"/contacts/{ana.pk}/",
        {"form": "details", "name": "Ana Lima", "company": "Acme", "note": "VIP"},
    )
    assert saved.status_code == 302
    ana.refresh_from_db()
    assert (ana.name, ana.company, ana.note) == ("Ana Lima", "Acme", "VIP")

    refused = agent.post(
        f"/contacts/{ana.pk}/",
        {"form": "details", "name": "N" * 201, "company": "Typed Co", "note": "x"},
    )
    assert refused.status_code == 400
    page = refused.content.decode()
    assert 'id="name-errors"' in page
    assert 'value="Typed Co"' in page
    ana.refresh_from_db()
    assert ana.company == "Acme"

    bad_email = agent.post(
        f"/contacts/{ana.pk}/", {"form": "email-add", "email": "not-an-address"}
    )
    assert bad_email.status_code == 400
    assert 'id="email-errors"' in bad_email.content.decode()
    assert 'value="not-an-address"' in bad_email.content.decode()
    assert not ana.emails.exists()


def test_emails_phones_labels_and_attributes(agent, agent_member):
    business = agent_member.business
    business.default_country = "US"
    business.save()
    vip = Label.objects.create(business=business, name="vip")
    ana = contact_create(business=business, name="Ana")
    url = f"/contacts/{ana.pk}/"

    agent.post(url, {"form": "email-add", "email": "Ana@Example.com"})
    agent.post(url, {"form": "phone-add", "phone": "(415) 555-0100"})
    agent.post(url, {"form": "labels", "labels": [vip.pk]})
    agent.post(url, {"form": "attribute-set", "key": "plan", "value": "pro"})
    assert list(ana.emails.values_list("address", flat=True)) == ["ana@example.com"]
    assert list(ana.phones.values_list("number", flat=True)) == ["+14155550100"]
    assert [link.label_id for link in ana.label_links.all()] == [vip.pk]
    ana.refresh_from_db()
    assert ana.custom_attributes == {"plan": "pro"}

    bad_key = agent.post(url, {"form": "attribute-set", "key": "Bad Key", "value": "1"})
    assert bad_key.status_code == 400
    assert 'id="key-errors"' in bad_key.content.decode()
    assert 'value="Bad Key"' in bad_key.content.decode()

    agent.post(url, {"form": "email-remove", "email": "ana@example.com"})
    agent.post(url, {"form": "phone-remove", "phone": "+14155550100"})
    agent.post(url, {"form": "attribute-remove", "key": "plan"})
    agent.post(url, {"form": "labels"})
    ana.refresh_from_db()
    assert not ana.emails.exists() and not ana.phones.exists()
    assert ana.custom_attributes == {} and not ana.label_links.exists()


def test_another_business_contact_is_404(admin):
    foreign = contact_create(business=BusinessFactory(), name="Theirs")
    assert admin.get(f"/contacts/{foreign.pk}/").status_code == 404
    assert (
        admin.post(
            f"/contacts/{foreign.pk}/", {"form": "details", "name": "Mine"}
        ).status_code
        == 404
    )
    assert admin.get(f"/contacts/{foreign.pk}/data.json").status_code == 404
    assert admin.post(f"/contacts/{foreign.pk}/erase/").status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


def test_not_a_member_is_403_and_anonymous_goes_to_login():
    outsider = Client()
    outsider.force_login(UserFactory())
    assert outsider.get("/contacts/").status_code == 403
    anonymous = Client().get("/contacts/")
    assert anonymous.status_code == 302
    assert "/accounts/login/" in anonymous["Location"]


def test_import_on_the_page_shows_the_result(admin, agent, admin_member):
    upload = SimpleUploadedFile(
        "c.csv",
        b"name,emails\nAna,ana@example.com\nBad,nope\n",
        content_type="text/csv",
    )
    refused = agent.post("/contacts/import/", {"file": upload})
    assert refused.status_code == 403
    upload.seek(0)
    answer = admin.post("/contacts/import/", {"file": upload})
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "1 created, 0 updated, 0 unchanged, 1 row not imported" in page
    assert "<td>3</td><td>emails</td>" in page
    broken = admin.post(
        "/contacts/import/",
        {"file": SimpleUploadedFile("c.csv", b"shoe\n1\n", content_type="text/csv")},
    )
    assert broken.status_code == 400
    assert "Unknown column" in broken.content.decode()


def test_export_and_data_download(agent, agent_member):
    ana = contact_create(
        business=agent_member.business, name="Ana", emails=["ana@example.com"]
    )
    export = agent.get("/contacts/export.csv")
    assert export.status_code == 200
    assert b"ana@example.com" in b"".join(export.streaming_content)
    data = agent.get(f"/contacts/{ana.pk}/data.json")
    assert data["Content-Disposition"].startswith("attachment")
    assert json.loads(data.content)["emails"][0]["address"] == "ana@example.com"


def test_erase_asks_first_and_is_for_admins(admin, agent, admin_member):
    ana = contact_create(business=admin_member.business, name="Ana Lima")
    assert agent.get(f"/contacts/{ana.pk}/erase/").status_code == 403
    assert agent.post(f"/contacts/{ana.pk}/erase/").status_code == 403
    confirm = admin.get(f"/contacts/{ana.pk}/erase/")
    assert confirm.status_code == 200
    assert "cannot be undone" in confirm.content.decode()
    assert Contact.objects.get(pk=ana.pk).erased_at is None
    done = admin.post(f"/contacts/{ana.pk}/erase/")
    assert done.status_code == 302
    ana.refresh_from_db()
    assert ana.erased_at is not None and ana.name == "Erased contact"
    page = admin.get(f"/contacts/{ana.pk}/").content.decode()
    assert "data was erased" in page
    assert 'name="form" value="details"' not in page


def test_hostile_content_is_escaped(agent, agent_member):
    ana = contact_create(
        business=agent_member.business,
        name="<script>alert(1)</script>",
        custom_attributes={"x": "<img src=x onerror=alert(1)>"},
    )
    page = agent.get(f"/contacts/{ana.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert "<img src=x" not in page


def test_the_list_shows_each_rows_details_in_at_most_six_queries(agent, agent_member):
    # given: a page of contacts with e-mails, phones, labels and identities
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from channels_app.tests.factories import ChannelFactory

    business = agent_member.business
    vip = Label.objects.create(business=business, name="vip", color="#d97706")
    whatsapp = ChannelFactory(business=business, type="whatsapp")
    for index in range(12):
        contact = contact_create(
            business=business,
            name="" if index == 0 else f"Customer {index}",
            emails=[f"c{index}@example.com"],
            phones=[f"+35191234{index:04d}"],
            label_ids=[vip.pk],
        )
        ContactIdentityFactory(
            contact=contact,
            channel=whatsapp,
            external_id=f"+35191234{index:04d}",
            handle="",
        )
    agent.get("/contacts/")

    # when
    with CaptureQueriesContext(connection) as queries:
        html = agent.get("/contacts/").content.decode()

    # then: the session, the agent, the page, its details and the labels of
    # the filter (no count of the business's contacts)
    assert len(queries) <= 5, [query["sql"][:100] for query in queries]
    assert "c5@example.com" in html
    assert "+351 912 340 005" in html
    assert html.count('class="contact-label"') == 12
    assert html.count("channel-whatsapp") >= 12
    # The nameless contact is named by its phone, as everywhere else.
    assert "+351 912 340 000</bdi></a>" in html

"""Contacts as CSV: the export (all columns, injection-safe, streamed) and the
import (matching existing contacts however their details are written, bad
rows reported and good rows kept, importing twice adds nothing)."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from billing.tests.factories import BusinessFactory
from contacts.models import ContactEmail, ContactPhone
from contacts.services.contacts import contact_create
from contacts.services.transfer import (
    IMPORT_MAX_ROWS,
    ContactImportInvalid,
    contacts_import,
)
from conversations.models import Contact
from workspace.models import Label

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/contacts/export.csv"
IMPORT = "/api/v1/contacts/import"


def _rows(answer) -> list[dict[str, str]]:
    body = b"".join(answer.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def _upload(text: str, name: str = "contacts.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_export_has_every_column_and_only_this_business(admin_api, admin_member):
    business = admin_member.business
    vip = Label.objects.create(business=business, name="vip")
    contact_create(
        business=business,
        name="Ana Lima",
        company="Lima",
        emails=["ana@example.com", "ana@work.example"],
        phones=["+14155550100"],
        label_ids=[vip.pk],
        custom_attributes={"plan": "pro", "seats": 3},
        note="Line one\nline two",
    )
    contact_create(business=business, name="Bob", custom_attributes={"tier": "b"})
    contact_create(business=BusinessFactory(), name="Not ours")

    answer = admin_api.get(EXPORT)

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = _rows(answer)
    assert [row["name"] for row in rows] == ["Ana Lima", "Bob"]
    ana = rows[0]
    assert ana["emails"] == "ana@example.com;ana@work.example"
    assert ana["phones"] == "'+14155550100"
    assert ana["labels"] == "vip"
    assert ana["attr:plan"] == "pro"
    assert ana["attr:seats"] == "3"
    assert ana["attr:tier"] == ""
    assert ana["note"] == "Line one\nline two"
    assert ana["created_at"]


def test_export_cells_cannot_run_as_formulas(admin_api, admin_member):
    contact_create(
        business=admin_member.business,
        name='=HYPERLINK("http://evil.example","x")',
        company="+1+1",
        note="@SUM(A1)",
        custom_attributes={"a": "-2+3"},
    )
    row = _rows(admin_api.get(EXPORT))[0]
    for column in ("name", "company", "note", "attr:a"):
        assert row[column].startswith("'"), column
    assert row["name"] == '\'=HYPERLINK("http://evil.example","x")'


def test_round_trip_export_then_import_elsewhere(admin_api, admin_member):
    business = admin_member.business
    Label.objects.create(business=business, name="vip")
    contact_create(
        business=business,
        name="=Ana",
        emails=["ana@example.com"],
        phones=["+351912345678"],
        label_ids=list(Label.objects.values_list("pk", flat=True)),
        custom_attributes={"plan": "pro"},
        note="-note",
    )
    exported = b"".join(admin_api.get(EXPORT).streaming_content).decode()
    other = BusinessFactory()
    Label.objects.create(business=other, name="VIP")

    result = contacts_import(other, _upload(exported))

    assert result.as_dict() == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "errors": [],
    }
    copy = Contact.objects.get(business=other)
    assert copy.name == "=Ana"
    assert copy.note == "-note"
    assert copy.custom_attributes == {"plan": "pro"}
    assert list(copy.emails.values_list("address", flat=True)) == ["ana@example.com"]
    assert list(copy.phones.values_list("number", flat=True)) == ["+351912345678"]
    assert [link.label.name for link in copy.label_links.all()] == ["VIP"]


def test_import_twice_adds_nothing(admin_api, admin_member):
    text = (
        "name,emails,phones,attr:plan\n"
        "Ana,ana@example.com,,pro\n"
        "Bob,,+14155550100,\n"
        "Carla only a name,,,\n"
    )
    first = admin_api.post(IMPORT, {"file": _upload(text)}, format="multipart")
    assert first.status_code == 200
    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0, "errors": []}
    second = admin_api.post(IMPORT, {"file": _upload(text)}, format="multipart")
    assert second.json() == {"created": 0, "updated": 0, "unchanged": 3, "errors": []}
    assert Contact.objects.filter(business=admin_member.business).count() == 3
    assert ContactEmail.objects.filter(business=admin_member.business).count() == 1


def test_import_matches_by_email_and_by_phone_written_differently(admin_member):
    business = admin_member.business
    business.default_country = "PT"
    business.save()
    ana = contact_create(business=business, name="Ana", emails=["ana@example.com"])
    bob = contact_create(business=business, name="Bob", phones=["+351912345678"])
    text = (
        "name,company,emails,phones,attr:plan\n"
        ",Acme,ANA@Example.COM,,pro\n"
        "Bob Silva,,bob@example.com,912 345 678,\n"
    )

    result = contacts_import(business, _upload(text))

    assert result.as_dict()["created"] == 0
    assert result.as_dict()["updated"] == 2
    ana.refresh_from_db()
    bob.refresh_from_db()
    assert ana.name == "Ana"  # an empty cell keeps what the contact has
    assert ana.company == "Acme"
    assert ana.custom_attributes == {"plan": "pro"}
    assert bob.name == "Bob Silva"
    assert set(bob.emails.values_list("address", flat=True)) == {"bob@example.com"}
    assert list(bob.phones.values_list("number", flat=True)) == ["+351912345678"]
    assert "bob@example.com" in bob.search_text


def test_bad_rows_are_reported_and_good_rows_kept(admin_member):
    business = admin_member.business
    text = (
        "name,emails,phones,labels,attr:plan\n"
        "Good One,one@example.com,,,\n"
        "Bad Email,not-an-address,,,\n"
        "Bad Phone,,call me,,\n"
        "Bad Label,,,nope,\n"
        ",,,,orphan\n"
        "Good Two,two@example.com,,,\n"
    )

    result = contacts_import(business, _upload(text)).as_dict()

    assert result["created"] == 2
    assert [(e["row"], e["field"]) for e in result["errors"]] == [
        (3, "emails"),
        (4, "phones"),
        (5, "labels"),
        (6, "name"),
    ]
    assert "not-an-address" in result["errors"][0]["detail"]
    assert set(
        Contact.objects.filter(business=business).values_list("name", flat=True)
    ) == {"Good One", "Good Two"}


def test_rows_of_one_file_about_the_same_person_make_one_contact(admin_member):
    text = "name,emails,phones\nAna,ana@example.com,\n,ana@example.com,+14155550100\n"
    result = contacts_import(admin_member.business, _upload(text)).as_dict()
    assert (result["created"], result["updated"]) == (1, 1)
    contact = Contact.objects.get(business=admin_member.business)
    assert list(contact.phones.values_list("number", flat=True)) == ["+14155550100"]
    assert ContactPhone.objects.filter(business=admin_member.business).count() == 1


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (b"", "empty"),
        (b"name,shoe size\nAna,42\n", "Unknown column"),
        (b"\xff\xfe\x00n\x00a", "UTF-8"),
        (b"company\nAcme\n", "name, emails or phones"),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(admin_api, content, detail):
    upload = SimpleUploadedFile("c.csv", content, content_type="text/csv")
    answer = admin_api.post(IMPORT, {"file": upload}, format="multipart")
    assert answer.status_code == 400
    assert detail in answer.json()["file"][0]


def test_too_many_rows_is_a_clear_400(admin_member, settings):
    text = "name\n" + "".join(f"c{i}\n" for i in range(IMPORT_MAX_ROWS + 1))
    with pytest.raises(ContactImportInvalid) as refused:
        contacts_import(admin_member.business, _upload(text))
    assert refused.value.field == "file"
    assert "10,000" in refused.value.detail
    assert not Contact.objects.filter(business=admin_member.business).exists()


def test_too_large_a_file_is_a_clear_400(admin_api, monkeypatch):
    monkeypatch.setattr("contacts.services.transfer.IMPORT_MAX_BYTES", 100)
    answer = admin_api.post(
        IMPORT, {"file": _upload("name\n" + "x" * 200 + "\n")}, format="multipart"
    )
    assert answer.status_code == 400
    assert "larger than" in answer.json()["file"][0]


def test_import_is_for_admins(agent_member, api_client_for):
    agent_api = api_client_for(agent_member)
    answer = agent_api.post(
        IMPORT, {"file": _upload("name\nAna\n")}, format="multipart"
    )
    assert answer.status_code == 403
    assert not Contact.objects.filter(business=agent_member.business).exists()
    assert agent_api.get(EXPORT).status_code == 200


def test_export_is_csv_whatever_the_accept_header(admin_api, admin_member):
    contact_create(business=admin_member.business, name="Ana")
    answer = admin_api.get(EXPORT, HTTP_ACCEPT="text/csv")
    assert answer.status_code == 200
    assert [row["name"] for row in _rows(answer)] == ["Ana"]

"""Identities fill in what they know.

- `ContactIdentity.profile_fetched_at`: when PingBack asked the platform for
  the identity's profile (Instagram, X), so that it asks once.
- Backfill: the phone numbers of WhatsApp and SMS identities and the
  addresses of e-mail identities become the contacts' `ContactPhone` /
  `ContactEmail` rows (source `whatsapp`, `sms`, `email`), as ingest now adds
  them for new identities; the contacts' search text is recomputed.
"""

from collections import defaultdict

from django.db import migrations, models

# Rows handled per round: a few statements each, far below SQLite's 999
# parameters per statement.
BATCH = 200


def _chunks(items, size=BATCH):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def backfill_details(apps, schema_editor):
    from contacts.services.identities import identity_details
    from contacts.search_text import search_text_for

    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    Contact = apps.get_model("conversations", "Contact")
    ContactEmail = apps.get_model("contacts", "ContactEmail")
    ContactPhone = apps.get_model("contacts", "ContactPhone")
    rows = list(
        ContactIdentity.objects.filter(
            channel__type__in=("whatsapp", "sms", "email"),
            contact__erased_at__isnull=True,
        ).values_list(
            "contact_id", "contact__business_id", "channel__type", "external_id"
        )
    )
    touched = set()
    for chunk in _chunks(rows):
        emails, phones = [], []
        for contact_id, business_id, channel_type, external_id in chunk:
            details = identity_details(channel_type, external_id)
            emails += [
                ContactEmail(
                    contact_id=contact_id,
                    business_id=business_id,
                    address=address,
                    source=channel_type,
                )
                for address in details.emails
            ]
            phones += [
                ContactPhone(
                    contact_id=contact_id,
                    business_id=business_id,
                    number=number,
                    source=channel_type,
                )
                for number in details.phones
            ]
            if details.emails or details.phones:
                touched.add(contact_id)
        ContactEmail.objects.bulk_create(emails, ignore_conflicts=True)
        ContactPhone.objects.bulk_create(phones, ignore_conflicts=True)
    for chunk in _chunks(sorted(touched)):
        _search_text_refresh(apps, chunk, search_text_for)


def _search_text_refresh(apps, contact_ids, search_text_for):
    Contact = apps.get_model("conversations", "Contact")
    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    ContactEmail = apps.get_model("contacts", "ContactEmail")
    ContactPhone = apps.get_model("contacts", "ContactPhone")
    emails, phones, identities = defaultdict(list), defaultdict(list), defaultdict(list)
    for contact_id, address in ContactEmail.objects.filter(
        contact_id__in=contact_ids
    ).values_list("contact_id", "address"):
        emails[contact_id].append(address)
    for contact_id, number in ContactPhone.objects.filter(
        contact_id__in=contact_ids
    ).values_list("contact_id", "number"):
        phones[contact_id].append(number)
    for contact_id, handle, external_id in ContactIdentity.objects.filter(
        contact_id__in=contact_ids
    ).values_list("contact_id", "handle", "external_id"):
        identities[contact_id].append((handle, external_id))
    changed = []
    for contact in Contact.objects.filter(pk__in=contact_ids):
        text = search_text_for(
            name=contact.name,
            company=contact.company,
            emails=emails[contact.pk],
            phones=phones[contact.pk],
            identities=identities[contact.pk],
        )
        if text != contact.search_text:
            contact.search_text = text
            changed.append(contact)
    Contact.objects.bulk_update(changed, ["search_text"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0014_label_recency"),
        ("contacts", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactidentity",
            name="profile_fetched_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(backfill_details, migrations.RunPython.noop),
    ]

"""What PingBack knows of a contact beyond its identities: e-mail addresses,
phone numbers, labels, and the merges agents said were not the same person.

`Contact` and `ContactIdentity` themselves live in `conversations.models`
(every conversation and every ingested message points at them)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from billing.models import Business
from conversations.models import Contact


class ContactEmail(models.Model):
    """One e-mail address of a contact, stored lower-cased.

    Not unique in the business: two contacts sharing an address is exactly
    what a suggested merge points out. `source` says where it came from
    (`agent`, `import`, `email` for an e-mail identity, `widget` for a
    visitor the website identified, `api`)."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="emails"
    )
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=254)
    source = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "address"], name="contact_email_unique"
            )
        ]
        indexes = [
            models.Index(fields=["business", "address"], name="contact_email_idx")
        ]

    def __str__(self) -> str:
        return self.address


class ContactPhone(models.Model):
    """One phone number of a contact, in E.164 (`+14155550100`), as
    `contacts.phones.phone_e164` parses it. Not unique in the business (see
    `ContactEmail`)."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="phones"
    )
    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    number = models.CharField(max_length=32)
    source = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "number"], name="contact_phone_unique"
            )
        ]
        indexes = [
            models.Index(fields=["business", "number"], name="contact_phone_idx")
        ]

    def __str__(self) -> str:
        return self.number


class ContactLabel(models.Model):
    """A label (the business's `workspace.Label`) on a contact."""

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="label_links"
    )
    label = models.ForeignKey(
        "workspace.Label", on_delete=models.CASCADE, related_name="contact_links"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "label"], name="contact_label_unique"
            )
        ]
        indexes = [
            models.Index(fields=["label", "contact"], name="contact_label_label_idx")
        ]

    def __str__(self) -> str:
        return f"{self.label_id} on contact {self.contact_id}"


class MergeDismissal(models.Model):
    """An agent said two contacts that share an e-mail address or a phone
    number are not the same person: the pair is no longer suggested for a
    merge. Stored once per pair, `contact_id < other_id`."""

    business = models.ForeignKey(Business, on_delete=models.CASCADE, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "other"], name="merge_dismissal_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} is not {self.other_id}"

"""Django admin for business admins: each sees and manages only their own
business; agents get nothing; the operator (superuser) sees every business.

The walk goes over EVERY registered ModelAdmin (`admin.site._registry`), so a
model registered later without scoping fails here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.urls import reverse
from django.utils import timezone

from billing.admin_scope import business_lookup, scoped_queryset
from billing.models import ApiToken, Business, Invitation, Member
from billing.services import api_token_create
from billing.tests.factories import BusinessFactory, MemberFactory, UserFactory
from channels_app.models import InboundEvent
from contacts.models import ContactEmail, ContactPhone
from conversations.models import DeliveryAttempt
from conversations.tests.factories import ConversationFactory, MessageFactory
from workspace.tests.factories import (
    CannedResponseFactory,
    LabelFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"


def populate(business: Business) -> None:
    """One row of every model the admin shows, all `business`'s."""
    admin_member = MemberFactory(business=business, role="admin")
    agent = MemberFactory(business=business, role="agent")
    api_token_create(member=admin_member)
    # An invitation of someone who has not accepted yet (a member of its own,
    # as `member_invite` makes one).
    invited = MemberFactory(business=business, role="admin")
    invited.user.set_unusable_password()
    invited.user.save(update_fields=["password"])
    Invitation.objects.create(
        member=invited,
        digest=Invitation.hash(Invitation.generate()),
        invited_by=admin_member,
        expires_at=timezone.now() + timedelta(days=7),
    )
    message = MessageFactory(
        conversation=ConversationFactory(business=business, assignee=agent.user)
    )
    conversation = message.conversation
    team = TeamFactory(business=business, members=[agent])
    conversation.team = team
    conversation.save(update_fields=["team"])
    conversation.labels.add(LabelFactory(business=business))
    CannedResponseFactory(business=business, created_by=admin_member)
    InboundEvent.objects.create(
        channel=conversation.channel, event_key=f"evt-{business.pk}", body=b"{}"
    )
    DeliveryAttempt.objects.create(message=message, outcome="sent")
    ContactEmail.objects.create(
        contact=conversation.contact, business=business, address="a@example.test"
    )
    ContactPhone.objects.create(
        contact=conversation.contact, business=business, number="+351910000000"
    )


@pytest.fixture
def first() -> Business:
    business = BusinessFactory(name="First Ltd", plan="pro")
    populate(business)
    return business


@pytest.fixture
def second() -> Business:
    business = BusinessFactory(name="Second Ltd", plan="pro")
    populate(business)
    return business


def rows_of(model: type[models.Model], business: Business) -> models.QuerySet:
    return scoped_queryset(model._default_manager.all(), business)


def admin_of(business: Business):
    """The business's admin (not the one invited, who has no password yet)."""
    return business.members.get(role="admin", invitations__isnull=True)


@pytest.fixture
def second_admin(client, second):
    client.force_login(admin_of(second).user)
    return client


REGISTRY = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)
IDS = [model._meta.label for model, _ in REGISTRY]


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def choice_querysets(response):
    """Every model-choice field of the add form and its inline forms."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms.append(inline.formset.empty_form)
    for form in forms:
        for name, field in form.fields.items():
            if isinstance(field, ModelChoiceField | ModelMultipleChoiceField):
                yield name, field.queryset


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_another_business_admin_reaches_none_of_the_first_business_rows(
    model, model_admin, first, second, second_admin
):
    theirs = rows_of(model, first)
    theirs_pks = {str(pk) for pk in theirs.values_list("pk", flat=True)}
    if business_lookup(model) is not None:
        assert theirs_pks, f"the walk needs a row of {model._meta.label}"

    # The changelist lists none of the first business's rows.
    listed = second_admin.get(url(model, "changelist"))
    assert listed.status_code in (200, 403)
    if listed.status_code == 200:
        shown = {str(obj.pk) for obj in listed.context["cl"].result_list}
        assert shown and not shown & theirs_pks
        assert "First Ltd" not in listed.content.decode()
        # ...and its own rows open (read-only where the role only reads).
        own = rows_of(model, second).first()
        assert own is not None
        assert second_admin.get(url(model, "change", own.pk)).status_code == 200

    # Their change, delete and history pages are not found.
    for pk in theirs_pks:
        for view in ("change", "delete", "history"):
            response = second_admin.get(url(model, view, pk))
            assert response.status_code in (403, 404), (view, pk)

    # An add form offers none of the first business's rows.
    added = second_admin.get(url(model, "add"))
    assert added.status_code in (200, 403)
    if added.status_code == 200:
        for name, queryset in choice_querysets(added):
            related = queryset.model
            assert not queryset.filter(
                pk__in=rows_of(related, first).values("pk")
            ).exists(), name
            assert Business.objects.filter(name="First Ltd").exists()
        assert "First Ltd" not in added.content.decode()

    # Actions on the first business's rows, by id, change nothing.
    before = theirs.count()
    for action in model_admin.get_actions(added.wsgi_request):
        second_admin.post(
            url(model, "changelist"),
            {
                "action": action,
                "_selected_action": sorted(theirs_pks),
                "post": "yes",
                "index": 0,
            },
        )
    assert rows_of(model, first).count() == before
    assert not ApiToken.objects.filter(
        member__business=first, revoked_at__isnull=False
    ).exists()


def test_autocomplete_offers_only_the_admins_business(first, second, second_admin):
    response = second_admin.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "workspace",
            "model_name": "team",
            "field_name": "members",
            "term": "",
        },
    )

    assert response.status_code == 200
    ids = {int(result["id"]) for result in response.json()["results"]}
    assert ids == set(second.members.values_list("pk", flat=True))


def test_a_business_admin_adds_a_label_to_their_own_business(
    first, second, second_admin
):
    # A forged business id is not a choice; the admin's own business is.
    forged = second_admin.post(
        url(LabelFactory._meta.model, "add"),
        {"business": first.pk, "name": "forged", "color": "#000000"},
    )
    added = second_admin.post(
        url(LabelFactory._meta.model, "add"),
        {"business": second.pk, "name": "vip", "color": "#000000"},
    )

    assert forged.status_code == 200
    assert "Select a valid choice" in forged.content.decode()
    assert added.status_code == 302
    label = LabelFactory._meta.model.objects.get(name="vip")
    assert label.business == second
    assert not first.labels.filter(name="forged").exists()


def test_a_business_admin_cannot_change_the_plan(second, second_admin):
    response = second_admin.post(
        url(Business, "change", second.pk),
        {
            "name": "Renamed",
            "plan": "free",
            "time_zone": "Europe/Lisbon",
            "members-TOTAL_FORMS": "0",
            "members-INITIAL_FORMS": "0",
        },
    )

    second.refresh_from_db()
    assert response.status_code == 302
    assert (second.name, second.plan, second.time_zone) == (
        "Renamed",
        "pro",
        "Europe/Lisbon",
    )


def test_a_new_time_zone_in_admin_raises_the_hours_version(second, second_admin):
    # given: business hours in effect at version 3 (reports store times by it)
    Business.objects.filter(pk=second.pk).update(hours_version=3)
    form = {
        "name": second.name,
        "plan": second.plan,
        "members-TOTAL_FORMS": "0",
        "members-INITIAL_FORMS": "0",
    }

    # when: saved with the same zone, then with another
    zone = second.time_zone
    second_admin.post(url(Business, "change", second.pk), {**form, "time_zone": zone})
    second.refresh_from_db()
    assert (second.time_zone, second.hours_version) == (zone, 3)
    second_admin.post(
        url(Business, "change", second.pk), {**form, "time_zone": "Asia/Tokyo"}
    )

    # then: the hours mean other moments: the version rose with the zone
    second.refresh_from_db()
    assert (second.time_zone, second.hours_version) == ("Asia/Tokyo", 4)


def test_a_business_admin_logs_in_by_role_not_is_staff(client, second):
    user = admin_of(second).user
    user.is_staff = False
    user.save(update_fields=["is_staff"])

    response = client.post(
        reverse("admin:login"),
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )
    index = client.get("/admin/")

    assert response.status_code == 302
    assert index.status_code == 200
    page = index.content.decode()
    assert "permission to view or edit anything" not in page
    for name in ("Channels", "Members", "Teams", "Labels", "Conversations"):
        assert name in page
    assert "Users" not in page and "Groups" not in page


@pytest.mark.parametrize("is_staff", [False, True], ids=["agent", "staff-agent"])
def test_an_agent_has_no_admin_access(client, second, is_staff):
    agent = second.members.get(role="agent")
    agent.user.is_staff = is_staff
    agent.user.save(update_fields=["is_staff"])

    refused = client.post(
        reverse("admin:login"),
        {"username": agent.user.username, "password": PASSWORD, "next": "/admin/"},
    )
    client.force_login(agent.user)
    pages = [client.get("/admin/")] + [
        client.get(url(model, "changelist")) for model, _ in REGISTRY
    ]

    assert refused.status_code == 200
    assert "Please enter the correct" in refused.content.decode()
    assert all(page.status_code == 302 for page in pages)
    assert all("/admin/login/" in page["Location"] for page in pages)


@pytest.mark.parametrize(("model", "model_admin"), REGISTRY, ids=IDS)
def test_the_operator_sees_every_business(client, first, second, model, model_admin):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))

    listed = client.get(url(model, "changelist"))

    assert listed.status_code == 200
    shown = {str(obj.pk) for obj in listed.context["cl"].queryset}
    everything = {str(pk) for pk in model._default_manager.values_list("pk", flat=True)}
    assert shown == everything
    for business in (first, second):
        if business_lookup(model) is not None:
            assert rows_of(model, business).exists()


def test_operator_staff_who_are_no_member_keep_django_permissions(client, first):
    user = get_user_model().objects.create_user("ops", password=PASSWORD)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)

    assert client.get("/admin/").status_code == 200
    assert client.get(url(Business, "changelist")).status_code == 403


def test_a_business_admin_changes_an_agent_but_not_their_own_role(second, second_admin):
    me = admin_of(second)
    agent = second.members.get(role="agent")

    promoted = second_admin.post(
        url(Member, "change", agent.pk),
        {"role": "admin", "max_open_conversations": "5"},
    )
    demoted = second_admin.post(
        url(Member, "change", me.pk), {"role": "agent", "max_open_conversations": ""}
    )
    removed = second_admin.post(url(Member, "delete", me.pk), {"post": "yes"})

    agent.refresh_from_db()
    me.refresh_from_db()
    assert promoted.status_code == 302
    assert (agent.role, agent.max_open_conversations) == ("admin", 5)
    assert demoted.status_code == 302
    assert me.role == "admin"
    assert removed.status_code == 403
    assert Member.objects.filter(pk=me.pk).exists()


def test_a_conversation_offers_its_business_agents_as_assignees(second, second_admin):
    conversation = second.conversations.get()

    page = second_admin.get(url(type(conversation), "change", conversation.pk))

    field = page.context["adminform"].form.fields["assignee"]
    assert set(field.queryset) == {member.user for member in second.members.all()}
    assert 'select name="assignee"' in page.content.decode()


def test_a_business_admin_sends_an_invitation_again_from_admin(
    first, second, second_admin, mailoutbox
):
    mine = Invitation.objects.get(member__business=second)
    theirs = Invitation.objects.get(member__business=first)
    listed = second_admin.get(url(Invitation, "changelist"))
    assert listed.status_code == 200
    assert str(mine.member.user) in listed.content.decode()
    assert str(theirs.member.user) not in listed.content.decode()
    mailoutbox.clear()

    answer = second_admin.post(
        url(Invitation, "changelist"),
        {"action": "send_again", "_selected_action": [mine.pk]},
        follow=True,
    )

    assert answer.status_code == 200
    assert "a new link was sent" in answer.content.decode()
    [mail] = mailoutbox
    assert mail.to == [mine.member.user.email]
    mine.refresh_from_db()
    assert mine.used_at is not None  # replaced by the new link
    assert Invitation.objects.filter(member=mine.member, used_at=None).count() == 1
    assert second_admin.get(url(Invitation, "add")).status_code == 403

"""Members managed by their business's admins: invitations (a one-time link
that sets the password), role changes, deactivation (no more log-in, open
conversations unassigned with an activity entry) and the rule that a business
keeps an active admin; the settings pages that do it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from billing.models import Invitation, Member
from billing.services import (
    InvitationInvalid,
    LastAdmin,
    api_token_create,
    invitation_accept,
    member_deactivate,
    member_invite,
    member_reactivate,
    member_role_change,
)
from billing.tests.factories import BusinessFactory, MemberFactory
from conversations.models import Conversation, Message
from conversations.tests.factories import ConversationFactory
from pingback.errors import ApplicationError, FieldInvalid

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a new long passphrase"
LINK = re.compile(r"https?://\S+/invitations/(?P<token>[\w-]+)/")


def invited_token() -> str:
    """The token in the last invitation e-mail sent."""
    return LINK.search(mail.outbox[-1].body)["token"]


def logs_in(member) -> bool:
    """Whether the login page lets `member` in with their password."""
    response = Client().post(
        "/accounts/login/",
        {"username": member.user.username, "password": PASSWORD},
    )
    return response.status_code == 302


def client_of(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


# ------------------------------------------------------------------ invitations


def test_an_invitation_emails_a_link_and_stores_only_its_digest(admin_member):
    invitation, token = member_invite(
        business=admin_member.business,
        email="new.agent@example.test",
        role="agent",
        by=admin_member,
    )

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["new.agent@example.test"]
    assert admin_member.business.name in message.subject
    assert invited_token() == token
    assert invitation.digest == Invitation.hash(token)
    assert token not in str(Invitation.objects.values_list().get())
    member = invitation.member
    assert member.business == admin_member.business
    assert member.role == "agent"
    assert member.state == "invited"
    assert not member.user.has_usable_password()
    assert invitation.expires_at - timezone.now() > timedelta(days=6)


def test_an_invitation_link_sets_the_password_once(admin_member):
    _, token = member_invite(
        business=admin_member.business,
        email="ines@example.test",
        role="agent",
        by=admin_member,
    )

    member = invitation_accept(token=token, password=NEW_PASSWORD)

    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)
    assert member.state == "active"
    with pytest.raises(InvitationInvalid):
        invitation_accept(token=token, password="another long passphrase")
    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)


def test_an_expired_or_replaced_link_does_not_work(admin_member):
    invitation, token = member_invite(
        business=admin_member.business,
        email="late@example.test",
        role="agent",
        by=admin_member,
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvitationInvalid):
        invitation_accept(token=token, password=NEW_PASSWORD)

    client = client_of(admin_member)
    member = invitation.member
    client.post(f"/settings/members/{member.pk}/resend/")
    second = invited_token()
    assert second != token
    # A third link replaces the second.
    client.post(f"/settings/members/{member.pk}/resend/")
    with pytest.raises(InvitationInvalid):
        invitation_accept(token=second, password=NEW_PASSWORD)
    invitation_accept(token=invited_token(), password=NEW_PASSWORD)


def test_a_short_password_is_refused_and_the_link_still_works(admin_member):
    _, token = member_invite(
        business=admin_member.business,
        email="short@example.test",
        role="agent",
        by=admin_member,
    )

    with pytest.raises(FieldInvalid) as refused:
        invitation_accept(token=token, password="short")

    assert refused.value.field == "password"
    assert "too short" in refused.value.detail
    invitation_accept(token=token, password=NEW_PASSWORD)


@pytest.mark.parametrize(
    ("email", "role", "field"),
    [
        ("not an address", "agent", "email"),
        ("", "agent", "email"),
        ("fine@example.test", "owner", "role"),
        ("a" * 140 + "@example.test", "agent", "email"),
    ],
)
def test_a_bad_invitation_names_the_field(admin_member, email, role, field):
    with pytest.raises(FieldInvalid) as refused:
        member_invite(
            business=admin_member.business, email=email, role=role, by=admin_member
        )
    assert refused.value.field == field
    assert mail.outbox == []


def test_an_address_already_in_use_anywhere_is_refused(admin_member):
    other = MemberFactory(business=BusinessFactory())
    with pytest.raises(FieldInvalid) as refused:
        member_invite(
            business=admin_member.business,
            email=other.user.username.upper(),
            role="agent",
            by=admin_member,
        )
    assert refused.value.field == "email"
    assert Member.objects.filter(business=admin_member.business).count() == 1


def test_the_invitation_page_logs_the_member_in_and_opens_the_inbox(admin_member):
    _, token = member_invite(
        business=admin_member.business,
        email="page@example.test",
        role="agent",
        by=admin_member,
    )
    client = Client()

    # The link's token moves to the session: the form's address holds none.
    link = client.get(f"/invitations/{token}/")
    assert link.status_code == 302
    assert link["Location"] == "/invitations/accept/"
    page = client.get("/invitations/accept/")
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    assert page["Referrer-Policy"] == "same-origin"
    assert "page@example.test" in page.content.decode()

    differ = client.post(
        "/invitations/accept/", {"password": NEW_PASSWORD, "password2": "other"}
    )
    assert differ.status_code == 400
    assert "The two passwords differ." in differ.content.decode()

    done = client.post(
        "/invitations/accept/", {"password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert done.status_code == 302
    assert done["Location"] == "/"
    assert client.get("/").status_code == 200

    again = Client().get(f"/invitations/{token}/")
    assert again.status_code == 410
    assert "does not work any more" in again.content.decode()
    assert Client().get("/invitations/made-up/").status_code == 410
    assert Client().get("/invitations/accept/").status_code == 410


# ------------------------------------------------------------------ roles


def test_a_role_change_is_kept_and_the_last_admin_stays_one(admin_member):
    agent = MemberFactory(business=admin_member.business)

    member_role_change(member=agent, role="admin", by=admin_member)
    agent.refresh_from_db()
    assert agent.is_admin

    # Two admins: one may step down; then the other may not.
    member_role_change(member=admin_member, role="agent", by=admin_member)
    with pytest.raises(LastAdmin):
        member_role_change(member=agent, role="agent", by=agent)
    agent.refresh_from_db()
    assert agent.is_admin


def test_the_only_active_admin_cannot_be_deactivated(admin_member):
    # A deactivated admin does not count.
    other_admin = MemberFactory(business=admin_member.business, role="admin")
    member_deactivate(member=other_admin, by=admin_member)

    with pytest.raises(LastAdmin):
        member_deactivate(member=admin_member, by=admin_member)
    admin_member.user.refresh_from_db()
    assert admin_member.user.is_active


def test_the_pages_refuse_demoting_the_last_admin_with_a_message(admin_member):
    client = client_of(admin_member)

    response = client.post(
        f"/settings/members/{admin_member.pk}/role/", {"role": "agent"}, follow=True
    )

    assert "A business needs an active admin" in response.content.decode()
    admin_member.refresh_from_db()
    assert admin_member.is_admin
    response = client.post(
        f"/settings/members/{admin_member.pk}/deactivate/", follow=True
    )
    assert "A business needs an active admin" in response.content.decode()
    admin_member.user.refresh_from_db()
    assert admin_member.user.is_active


# ------------------------------------------------------------------ deactivation


def test_deactivating_unassigns_open_conversations_and_records_it(admin_member):
    admin_member.user.first_name = "Ana"
    admin_member.user.save()
    bob = MemberFactory(business=admin_member.business, user__first_name="Bob")
    business = admin_member.business
    open_ones = [
        ConversationFactory(business=business, assignee=bob.user, status=status)
        for status in ("open", "pending", "snoozed")
    ]
    resolved = ConversationFactory(
        business=business, assignee=bob.user, status="resolved"
    )
    others = ConversationFactory(business=business, assignee=admin_member.user)

    count = member_deactivate(member=bob, by=admin_member)

    assert count == 3
    for conversation in open_ones:
        conversation.refresh_from_db()
        assert conversation.assignee is None
        assert list(
            Message.objects.filter(
                conversation=conversation, kind=Message.ACTIVITY
            ).values_list("text", flat=True)
        ) == ["Ana unassigned Bob"]
    resolved.refresh_from_db()
    assert resolved.assignee == bob.user
    others.refresh_from_db()
    assert others.assignee == admin_member.user
    bob.user.refresh_from_db()
    assert not bob.user.is_active
    assert Member.objects.get(pk=bob.pk).state == "deactivated"


def test_a_deactivated_member_cannot_log_in_nor_use_a_token(admin_member):
    agent = MemberFactory(business=admin_member.business)
    _, token = api_token_create(member=agent)
    session = client_of(agent)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert api.get("/api/v1/tokens/").status_code == 200

    member_deactivate(member=agent, by=admin_member)

    assert api.get("/api/v1/tokens/").status_code == 401
    assert session.get("/").status_code == 302  # the open session ended
    assert not logs_in(agent)

    member_reactivate(member=agent, by=admin_member)
    assert logs_in(agent)
    assert api.get("/api/v1/tokens/").status_code == 200


def test_deactivating_spends_a_pending_invitation(admin_member):
    invitation, token = member_invite(
        business=admin_member.business,
        email="gone@example.test",
        role="agent",
        by=admin_member,
    )

    member_deactivate(member=invitation.member, by=admin_member)

    with pytest.raises(InvitationInvalid):
        invitation_accept(token=token, password=NEW_PASSWORD)


def test_the_deactivate_page_says_how_many_conversations_and_does_it(admin_member):
    agent = MemberFactory(business=admin_member.business)
    ConversationFactory(business=admin_member.business, assignee=agent.user)
    ConversationFactory(business=admin_member.business, assignee=agent.user)
    client = client_of(admin_member)

    page = client.get(f"/settings/members/{agent.pk}/deactivate/")
    assert "Their 2 open conversations are unassigned" in page.content.decode()

    done = client.post(f"/settings/members/{agent.pk}/deactivate/", follow=True)
    assert "2 conversations unassigned" in done.content.decode()
    assert not Conversation.objects.filter(assignee=agent.user).exists()


# ------------------------------------------------------------------ pages


def test_the_members_page_lists_roles_and_states_and_invites(admin_member):
    MemberFactory(business=admin_member.business, user__first_name="Zed")
    gone = MemberFactory(business=admin_member.business, user__first_name="Gone")
    gone.user.is_active = False
    gone.user.save()
    MemberFactory(business=BusinessFactory(), user__first_name="Stranger")
    client = client_of(admin_member)

    response = client.post(
        "/settings/members/", {"email": "invitee@example.test", "role": "admin"}
    )
    assert response.status_code == 302
    assert mail.outbox[-1].to == ["invitee@example.test"]
    page = client.get("/settings/members/").content.decode()

    assert "Zed" in page
    assert "Stranger" not in page
    assert 'data-state="deactivated"' in page
    assert 'data-state="invited"' in page
    assert "Invitation sent to" in page
    invitee = Member.objects.get(user__username="invitee@example.test")
    assert invitee.role == "admin"


def test_a_refused_invitation_keeps_what_was_typed(admin_member):
    response = client_of(admin_member).post(
        "/settings/members/", {"email": "not-an-address<script>", "role": "agent"}
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter an e-mail address." in page
    assert 'value="not-an-address&lt;script&gt;"' in page


def test_agents_get_403_and_change_nothing(agent_member, admin_member):
    client = client_of(agent_member)

    for path in ("/settings/members/", "/settings/tokens/", "/settings/plan/"):
        assert client.get(path).status_code == 403, path
    assert (
        client.post(
            "/settings/members/", {"email": "x@example.test", "role": "admin"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/settings/members/{agent_member.pk}/role/", {"role": "admin"}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/settings/members/{admin_member.pk}/deactivate/").status_code
        == 403
    )
    agent_member.refresh_from_db()
    assert agent_member.role == "agent"
    admin_member.user.refresh_from_db()
    assert admin_member.user.is_active
    assert mail.outbox == []
    assert "/settings/members/" not in client.get("/settings/labels/").content.decode()


def test_another_business_member_is_not_found(admin_member):
    stranger = MemberFactory(business=BusinessFactory())
    client = client_of(admin_member)

    assert (
        client.post(
            f"/settings/members/{stranger.pk}/role/", {"role": "admin"}
        ).status_code
        == 404
    )
    assert client.get(f"/settings/members/{stranger.pk}/deactivate/").status_code == 404
    stranger.user.refresh_from_db()
    assert stranger.user.is_active


def test_anonymous_visitors_are_sent_to_log_in():
    response = Client().get("/settings/members/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.fixture
def clean_presence():
    from conversations.tests.presence_helpers import presence_reset

    presence_reset()
    yield
    presence_reset()


def test_a_deactivated_member_gets_no_new_conversations(admin_member, clean_presence):
    from channels_app.tests.factories import ChannelFactory
    from conversations import presence
    from conversations.services.assignment import conversation_auto_assign
    from conversations.services.conversations import conversation_update

    business = admin_member.business
    bob = MemberFactory(business=business, user__first_name="Bob")
    # Bob's inbox tab is still open: presence still counts him online.
    presence.page_seen(
        business_id=business.pk,
        user_id=bob.user_id,
        name="Bob",
        connection="page-bob",
        conversation_id=None,
    )
    channel = ChannelFactory(business=business, auto_assign=True)
    first = ConversationFactory(business=business, channel=channel)
    assert conversation_auto_assign(first) == bob.user

    member_deactivate(member=bob, by=admin_member)
    second = ConversationFactory(business=business, channel=channel)

    assert conversation_auto_assign(second) is None
    with pytest.raises(ApplicationError, match="deactivated"):
        conversation_update(
            conversation=second, by=admin_member.user, assignee=bob.user
        )
    second.refresh_from_db()
    assert second.assignee is None


@pytest.mark.django_db(transaction=True)
def test_deactivating_closes_the_members_open_inbox_connections(settings, admin_member):
    from asgiref.sync import async_to_sync
    from channels.db import database_sync_to_async

    from conversations.tests.presence_helpers import inbox_socket, session_cookie

    settings.CHANNEL_LAYERS = {**settings.CHANNEL_LAYERS}  # a fresh layer
    agent = MemberFactory(business=admin_member.business)
    cookie = session_cookie(agent.user)

    async def scenario():
        socket = inbox_socket(cookie)
        assert (await socket.connect(timeout=5))[0]
        await database_sync_to_async(member_deactivate)(member=agent, by=admin_member)
        closed = await socket.receive_output(timeout=5)
        while closed["type"] == "websocket.send":  # events sent before it
            closed = await socket.receive_output(timeout=5)
        connected, _ = await inbox_socket(cookie).connect(timeout=5)
        return closed, connected

    closed, reconnected = async_to_sync(scenario)()

    assert closed == {"type": "websocket.close", "code": 4403}
    assert not reconnected


def test_an_admin_who_deactivates_themself_is_logged_out(admin_member):
    MemberFactory(business=admin_member.business, role="admin")
    client = client_of(admin_member)

    response = client.post(f"/settings/members/{admin_member.pk}/deactivate/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert client.get("/settings/members/").status_code == 302

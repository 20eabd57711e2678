"""Channel settings pages (/settings/channels/…) for a business's admins.

A member who is not an admin gets 403 on every page (GET and POST alike)
and nothing changes; a user who is not a member gets 403; anonymous
visitors are sent to the login page; another business's channel answers
404 like an unknown one.

The form is the one Django admin uses (`channels_app.forms`): one field per
config key of the channel type, checked as the API checks a channel (the
plan, the platform's serializer, the platform's refusal of a credential),
secrets as password inputs that keep the stored value when left blank.
Writes go through the channel services (`channel_create`, `channel_update`,
`channel_setup`, `channel_delete`), so setup runs as it does for the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing.models import Member
from billing.permissions import member_of
from channels_app import selectors
from channels_app.forms import (
    ChannelConfigFormMixin,
    learned_values,
    platform_setup_values,
)
from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.services import (
    channel_create,
    channel_delete,
    channel_plan_check,
    channel_setup,
    channel_update,
)
from conversations.models import Conversation, Message
from pingback.errors import PlanLimitExceeded

ADMINS_ONLY = gettext_lazy("Only a business admin may change its channels.")
# "widget" is the same platform as "webchat" under an older name: existing
# channels of that type are listed and edited, new ones are "webchat".
ADDABLE_TYPES = [
    (value, label) for value, label in Channel.Type.choices if value != "widget"
]
WIDGET_TYPES = frozenset({"webchat", "widget"})


def _admin(request: HttpRequest) -> Member:
    """The logged-in member if an admin of a business; `PermissionDenied`
    (403) otherwise."""
    member = member_of(request.user)
    if member is None or not member.is_admin:
        raise PermissionDenied(ADMINS_ONLY)
    return member


def _channel(member: Member, channel_id) -> Channel:
    """One of the member's business's channels; 404 for any other id."""
    try:
        return selectors.channel_get(member.business, channel_id)
    except Channel.DoesNotExist as error:
        raise Http404("No such channel.") from error


def _isolated(text: str) -> str:
    """`text` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE, for a
    flash line: a right-to-left override in a name cannot reorder the words
    after it."""
    return f"\u2068{text}\u2069"


class ChannelSettingsForm(ChannelConfigFormMixin, forms.Form):
    """A channel's name and the config fields of its one type. `channel`
    None: a new channel of `channel_type` for `business`, checked against
    the plan; otherwise the stored channel, whose type stays."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        required=False,
        max_length=Channel._meta.get_field("name").max_length,
        help_text=gettext_lazy(
            "Shown in the inbox. Leave it empty and setup names the channel "
            "from the platform (the bot's @username, the number, the mailbox)."
        ),
        widget=forms.TextInput(attrs={"dir": "auto"}),
    )

    def __init__(
        self, *args, business, channel_type: str, channel: Channel | None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.business = business
        self.channel_type = channel_type
        self.channel = channel
        if channel is not None:
            self.fields["name"].initial = channel.name
        self.add_config_fields([channel_type], channel)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        config = self.clean_channel_config(
            business=self.business,
            channel_type=self.channel_type,
            channel=self.channel,
            plan_field=None,
        )
        if config is not None:
            cleaned["clean_config"] = config
        return cleaned


def _page(request: HttpRequest, template: str, context: dict, status: int = 200):
    return render(
        request,
        f"channels_app/settings/{template}",
        {"section": "channels"} | context,
        status=status,
    )


def _report_setup(request: HttpRequest, channel: Channel) -> None:
    """The setup's outcome as a flash line: success when ready, a warning
    otherwise, with the platform's message."""
    line = _("Setup of “%(name)s”: %(state)s. %(message)s") % {
        "name": _isolated(str(channel)),
        "state": channel.get_setup_state_display().lower(),
        "message": channel.setup_message,
    }
    if channel.setup_state == Channel.SetupState.READY:
        flash.success(request, line.strip())
    else:
        flash.warning(request, line.strip())


@login_required
def channel_list(request: HttpRequest) -> HttpResponse:
    """Every channel of the business, oldest first: type, name, active or
    not, setup state and message, alert. One query however many."""
    member = _admin(request)
    return _page(
        request,
        "list.html",
        {"channels": list(selectors.channel_list(member.business))},
    )


@login_required
def channel_new(request: HttpRequest) -> HttpResponse:
    """The channel types to choose from, each leading to its own form."""
    member = _admin(request)
    refusal = ""
    try:
        # A count limit refuses every type: say so before the admin chooses.
        channel_plan_check(business=member.business, channel_type="webchat")
    except PlanLimitExceeded as error:
        refusal = error.detail
    return _page(request, "new.html", {"types": ADDABLE_TYPES, "plan_refusal": refusal})


@login_required
def channel_add(request: HttpRequest, channel_type: str) -> HttpResponse:
    """GET: the form of `channel_type` (404 for an unknown type), with the
    plan's refusal above it when the plan does not allow one more. POST:
    create the channel (setup runs) and show it, or the form again (400)
    with each refusal beside its field in the platform's words."""
    member = _admin(request)
    labels = dict(ADDABLE_TYPES)
    if channel_type not in labels:
        raise Http404("No such channel type.")
    business = member.business
    plan_refusal = ""
    if request.method == "POST":
        form = ChannelSettingsForm(
            request.POST, business=business, channel_type=channel_type, channel=None
        )
        if form.is_valid():
            try:
                channel = channel_create(
                    business=business,
                    channel_type=channel_type,
                    config=form.cleaned_data["clean_config"],
                    name=form.cleaned_data["name"].strip(),
                )
            except PlanLimitExceeded as error:  # another admin added one meanwhile
                form.add_error(None, error.detail)
            else:
                _report_setup(request, channel)
                return redirect("settings-channel", channel_id=channel.pk)
    else:
        form = ChannelSettingsForm(
            business=business, channel_type=channel_type, channel=None
        )
        try:
            channel_plan_check(business=business, channel_type=channel_type)
        except PlanLimitExceeded as error:
            plan_refusal = error.detail
    return _page(
        request,
        "form.html",
        {
            "form": form,
            "channel": None,
            "channel_type": channel_type,
            "type_label": labels[channel_type],
            "plan_refusal": plan_refusal,
        },
        status=400 if form.errors else 200,
    )


@login_required
def channel_detail(request: HttpRequest, channel_id) -> HttpResponse:
    """One channel: its state, setup outcome, alert, the webhook URL and
    what to paste on the platform's side (for Meta channels the callback URL
    and verify token, in clear for admins), what setup learned, and the
    buttons to edit, run setup again, deactivate or reactivate, delete."""
    member = _admin(request)
    channel = _channel(member, channel_id)
    return _page(
        request,
        "detail.html",
        {
            "channel": channel,
            "webhook_url": get_platform(channel.type).webhook_url(channel),
            "setup_values": platform_setup_values(channel),
            "learned": learned_values(channel),
            "is_widget": channel.type in WIDGET_TYPES,
        },
    )


@login_required
def channel_edit(request: HttpRequest, channel_id) -> HttpResponse:
    """GET: the channel's name and config fields (secrets blank, kept when
    left blank). POST: save (a new credential runs setup again) and back to
    the channel, or the form again (400) with each refusal beside its field."""
    member = _admin(request)
    channel = _channel(member, channel_id)
    form = ChannelSettingsForm(
        request.POST if request.method == "POST" else None,
        business=member.business,
        channel_type=channel.type,
        channel=channel,
    )
    before = channel.setup_checked_at
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"].strip()
        saved = channel_update(
            channel=channel,
            config=form.cleaned_data["clean_config"],
            # Unchanged: None, so a name setup gave follows a new account.
            name=name if name != channel.name else None,
        )
        if saved.setup_checked_at != before:  # a new credential: setup ran
            _report_setup(request, saved)
        else:
            flash.success(
                request,
                _("Channel “%(name)s” saved.") % {"name": _isolated(str(saved))},
            )
        return redirect("settings-channel", channel_id=saved.pk)
    if request.method == "POST":
        channel.refresh_from_db()  # a refused rename: the title keeps the old name
    return _page(
        request,
        "form.html",
        {
            "form": form,
            "channel": channel,
            "channel_type": channel.type,
            "type_label": channel.get_type_display(),
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def channel_setup_again(request: HttpRequest, channel_id) -> HttpResponse:
    """Run the platform's setup of an active channel again and report its
    outcome (an inactive channel runs setup when reactivated: 409 here)."""
    member = _admin(request)
    channel = _channel(member, channel_id)
    if not channel.is_active:
        return HttpResponse(
            _("The channel is deactivated; reactivate it to run setup."), status=409
        )
    _report_setup(request, channel_setup(channel=channel))
    return redirect("settings-channel", channel_id=channel.pk)


@login_required
@require_POST
def channel_active(request: HttpRequest, channel_id) -> HttpResponse:
    """POST `is_active` = "1" or "0": reactivate (setup runs again) or
    deactivate (no reply goes out through it, its platform registration is
    removed, its conversations stay). Anything else: 400."""
    member = _admin(request)
    channel = _channel(member, channel_id)
    wanted = request.POST.get("is_active")
    if wanted not in ("0", "1"):
        return HttpResponse(_("is_active must be 0 or 1."), status=400)
    is_active = wanted == "1"
    if is_active == channel.is_active:
        return redirect("settings-channel", channel_id=channel.pk)
    saved = channel_update(channel=channel, is_active=is_active)
    if is_active:
        _report_setup(request, saved)
    else:
        flash.success(
            request,
            _("Channel “%(name)s” deactivated: no reply goes out through it.")
            % {"name": _isolated(str(saved))},
        )
    return redirect("settings-channel", channel_id=saved.pk)


def deletion_consequences(channel: Channel) -> dict[str, int]:
    """What deleting `channel` keeps and removes, counted: its conversations
    and their messages are kept (their channel becomes empty, so they take
    no reply); the customers' ids on this channel (`contact_identities`; the
    contacts themselves stay) and the raw webhook deliveries
    (`inbound_events`) are removed. Four queries."""
    conversations = Conversation.objects.filter(channel=channel)
    return {
        "conversations": conversations.count(),
        "messages": Message.objects.filter(conversation__channel=channel).count(),
        "identities": channel.contact_identities.count(),
        "inbound_events": channel.inbound_events.count(),
    }


@login_required
def channel_delete_view(request: HttpRequest, channel_id) -> HttpResponse:
    """GET: what deleting the channel keeps and removes
    (`deletion_consequences`), and a button to confirm. POST: delete it
    through `channel_delete` (its platform registration is removed first)
    and back to the list."""
    member = _admin(request)
    channel = _channel(member, channel_id)
    if request.method == "POST":
        title = str(channel)
        channel_delete(channel=channel)
        flash.success(
            request, _("Channel “%(name)s” deleted.") % {"name": _isolated(title)}
        )
        return redirect("settings-channels")
    return _page(
        request,
        "confirm_delete.html",
        {"channel": channel, "counts": deletion_consequences(channel)},
    )

"""Channels in Django admin, with the API's validation, plan limits and masking."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.forms import Script
from django.utils.html import format_html, format_html_join

from billing.admin_scope import VIEW, BusinessScopedAdmin
from channels_app.forms import (
    ChannelConfigFormMixin,
    config_form_fields,
    learned_values,
    platform_setup_values,
)
from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.services import (
    channel_create,
    channel_delete,
    channel_setup,
    channel_update,
)
from channels_app.services.inbound import inbound_event_replay
from channels_app.services.routing import NO_SUCH_TEAM, channel_routing_update


class ChannelAdminForm(ChannelConfigFormMixin, forms.ModelForm):
    """A channel, its config as one field per config key of each type
    (`channels_app.forms`), checked by the channel services as the API checks
    it: the plan (its 402 message on `type`), then the config (the platform
    serializer's messages on each field, the platform's refusal of a
    credential). A secret left blank keeps the stored one."""

    class Meta:
        model = Channel
        fields = ["business", "type", "is_active", "auto_assign", "team"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        channel = None if self.instance._state.adding else self.instance
        self.add_config_fields(Channel.Type.values, channel)

    def clean(self):
        cleaned = super().clean()
        channel_type = cleaned.get("type")
        adding = self.instance._state.adding
        business = cleaned.get("business") or (
            None if adding else self.instance.business
        )
        team = cleaned.get("team")
        if team is not None and business and team.business_id != business.pk:
            raise forms.ValidationError({"team": NO_SUCH_TEAM})
        if not channel_type or self.errors:
            return cleaned
        config = self.clean_channel_config(
            business=business,
            channel_type=channel_type,
            channel=None if adding else self.instance,
            plan_field="type",
        )
        if config is not None:
            cleaned["clean_config"] = config
        return cleaned


@admin.register(Channel)
class ChannelAdmin(BusinessScopedAdmin):
    """Channels, one form per channel type (`ChannelAdminForm`); saving goes
    through the channel services the API uses (create and update run the
    platform's setup), and the change page shows the setup's outcome, the
    webhook URL and what to paste on the platform's side."""

    form = ChannelAdminForm
    list_display = [
        "__str__",
        "business",
        "type",
        "is_active",
        "auto_assign",
        "setup_state",
        "created_at",
    ]
    list_filter = ["type", "is_active", "auto_assign", "setup_state"]
    search_fields = ["id", "name", "business__name"]
    readonly_fields = [
        "id",
        "setup_state",
        "setup_message",
        "setup_checked_at",
        "webhook_url",
        "platform_setup_values",
        "learned_values",
        "alert",
        "created_at",
    ]
    actions = ["recheck_setup"]

    class Media:
        js = [
            Script("channels/admin-channel-form.js", defer=True),
            Script("inbox/copy-snippet.js", defer=True),
        ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        # A channel stays with its business (its conversations do).
        return ["business", *fields] if obj is not None else fields

    def get_fieldsets(self, request, obj=None):
        """The channel, then one fieldset per channel type with its config
        fields (static/channels/admin-channel-form.js shows only the chosen
        type's; a stored channel's other types start hidden), then the setup
        and what to paste on the platform's side."""
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        "business",
                        "type",
                        "name",
                        "is_active",
                        "auto_assign",
                        "team",
                    ]
                },
            )
        ]
        for channel_type, label in Channel.Type.choices:
            classes = ["channel-config", f"channel-config-{channel_type}"]
            if obj is not None and channel_type != obj.type:
                classes.append("hidden")
            fieldsets.append(
                (
                    f"{label} settings",
                    {
                        "fields": list(config_form_fields(channel_type)),
                        "classes": classes,
                    },
                )
            )
        if obj is not None:
            fieldsets.append(("Setup", {"fields": self.readonly_fields}))
        return fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The config fields are added by the form itself, per channel type.
        kwargs["fields"] = [
            "business",
            "type",
            "name",
            "is_active",
            "auto_assign",
            "team",
        ]
        return super().get_form(request, obj, change, **kwargs)

    @admin.display(description="Webhook URL")
    def webhook_url(self, channel: Channel) -> str:
        """The URL the platform posts to (`Platform.webhook_url`), to copy."""
        if channel._state.adding:
            return "—"
        url = get_platform(channel.type).webhook_url(channel)
        return _copyable("webhook-url", url) if url else "—"

    @admin.display(description="Values to enter on the platform's side")
    def platform_setup_values(self, channel: Channel) -> str:
        """What the platform's dashboard needs from PingBack, in clear for the
        admin (the API masks the verify token): for Meta channels the callback
        URL and verify token, for the widget its embed snippet."""
        if channel._state.adding:
            return "—"
        rows = platform_setup_values(channel)
        if not rows:
            return "—"
        return format_html_join(
            "",
            "<div><strong>{}</strong><br>{}</div>",
            (
                (
                    row["label"],
                    _copyable(f"setup-{index}", str(row["value"]))
                    if row["copyable"]
                    else row["value"],
                )
                for index, row in enumerate(rows)
            ),
        )

    @admin.display(description="Learned from the platform")
    def learned_values(self, channel: Channel) -> str:
        """What setup learned from the platform (`Platform.learned_fields`,
        e.g. Telegram's `bot_username`): read-only."""
        if channel._state.adding:
            return "—"
        rows = learned_values(channel)
        if not rows:
            return "—"
        return format_html_join("", "<div>{}: <code>{}</code></div>", rows)

    def save_model(self, request, obj: Channel, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = channel_update(
                channel=obj,
                channel_type=data["type"],
                config=data["clean_config"],
                is_active=data["is_active"],
                # Only a name the admin changed is theirs (emptied: the next
                # setup names it from the platform again).
                name=data["name"].strip() if "name" in form.changed_data else None,
            )
        else:
            saved = channel_create(
                business=data["business"],
                channel_type=data["type"],
                config=data["clean_config"],
                is_active=data["is_active"],
                name=data["name"].strip(),
            )
        saved = channel_routing_update(
            channel=saved, auto_assign=data["auto_assign"], team=data["team"]
        )
        obj.pk = saved.pk
        obj.__dict__.update(
            {k: v for k, v in saved.__dict__.items() if not k.startswith("_")}
        )
        _report_setup(self, request, saved)

    def delete_model(self, request, obj: Channel) -> None:
        channel_delete(channel=obj)

    def delete_queryset(self, request, queryset) -> None:
        for channel in queryset:
            channel_delete(channel=channel)

    @admin.action(description="Run setup again", permissions=["change"])
    def recheck_setup(self, request, queryset) -> None:
        """Run each selected channel's platform setup again
        (`channel_setup`) and report its outcome."""
        for channel in queryset:
            _report_setup(self, request, channel_setup(channel=channel))


def _copyable(element_id: str, text: str) -> str:
    """`text` in a `<code>` with a Copy button (static/inbox/copy-snippet.js)."""
    return format_html(
        '<code id="{id}">{text}</code> '
        '<button type="button" class="button" data-copy-target="{id}" '
        'data-copy-done="{id}-done">Copy</button> <span id="{id}-done"></span>',
        id=element_id,
        text=text,
    )


def _report_setup(model_admin: admin.ModelAdmin, request, channel: Channel) -> None:
    """The setup's state and message, as a message on the next page: green
    when ready, a warning otherwise."""
    level = messages.SUCCESS if channel.setup_state == "ready" else messages.WARNING
    model_admin.message_user(
        request,
        f"{channel}: setup {channel.get_setup_state_display().lower()}. "
        f"{channel.setup_message}",
        level,
    )


@admin.register(InboundEvent)
class InboundEventAdmin(BusinessScopedAdmin):
    """Raw webhook deliveries, for inspection and replay."""

    role_permissions = frozenset({VIEW})

    list_display = ["received_at", "channel", "event_key", "status", "short_error"]
    list_filter = ["status", "channel__type"]
    search_fields = ["event_key", "channel__id"]
    readonly_fields = [
        "channel",
        "event_key",
        "body_text",
        "content_type",
        "status",
        "error",
        "received_at",
        "processed_at",
    ]
    fields = readonly_fields
    actions = ["replay"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="Error")
    def short_error(self, event: InboundEvent) -> str:
        return event.error[:80]

    @admin.display(description="Body")
    def body_text(self, event: InboundEvent) -> str:
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>",
            bytes(event.body).decode("utf-8", "replace"),
        )

    @admin.action(description="Replay (process again)")
    def replay(self, request, queryset) -> None:
        replayable = queryset.filter(
            status__in=[InboundEvent.Status.FAILED, InboundEvent.Status.IGNORED]
        )
        for event in replayable:
            inbound_event_replay(event=event)
        self.message_user(
            request, f"{replayable.count()} event(s) scheduled for processing."
        )

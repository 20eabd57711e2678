"""Channels in Django admin, with the API's validation, plan limits and masking."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from billing.admin_scope import VIEW, BusinessScopedAdmin
from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.services import (
    ConfigInvalid,
    channel_config_clean,
    channel_create,
    channel_delete,
    channel_plan_check,
    channel_public_config,
    channel_setup,
    channel_update,
)
from channels_app.services.inbound import inbound_event_replay
from channels_app.services.routing import NO_SUCH_TEAM, channel_routing_update
from pingback.errors import PlanLimitExceeded


class ChannelAdminForm(forms.ModelForm):
    """Edits `config` as JSON. Secrets show masked (`****` + last 4); leaving a
    masked value as it is keeps the stored secret."""

    config_json = forms.CharField(
        label="Config",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 80}),
        required=False,
        help_text='JSON object, e.g. {"api_key": "...", "access_token": "..."}.',
    )

    class Meta:
        model = Channel
        fields = ["business", "type", "is_active", "auto_assign", "team"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["config_json"].initial = json.dumps(
                channel_public_config(self.instance, extra=False), indent=2
            )

    def clean(self):
        cleaned = super().clean()
        try:
            config = json.loads(cleaned.get("config_json") or "{}")
        except json.JSONDecodeError as error:
            raise forms.ValidationError(
                {"config_json": f"Not valid JSON: {error}"}
            ) from error
        channel_type = cleaned.get("type")
        business = cleaned.get("business")
        team = cleaned.get("team")
        if team is not None and business and team.business_id != business.pk:
            raise forms.ValidationError({"team": NO_SUCH_TEAM})
        if (
            business
            and channel_type
            and (self.instance._state.adding or channel_type != self.instance.type)
        ):
            existing = None if self.instance._state.adding else self.instance
            try:
                channel_plan_check(
                    business=business, channel_type=channel_type, channel=existing
                )
            except PlanLimitExceeded as error:
                raise forms.ValidationError({"type": error.detail}) from error
        if channel_type:
            try:
                cleaned["clean_config"] = channel_config_clean(
                    channel_type=channel_type,
                    config=config,
                    current=self.instance if self.instance.pk else None,
                )
            except ConfigInvalid as error:
                lines = [
                    f"{field}: {' '.join(map(str, msgs))}"
                    for field, msgs in error.errors.items()
                ]
                raise forms.ValidationError({"config_json": lines}) from error
        return cleaned


@admin.register(Channel)
class ChannelAdmin(BusinessScopedAdmin):
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
    search_fields = ["id", "business__name"]
    readonly_fields = [
        "id",
        "webhook_url",
        "platform_setup_values",
        "setup_state",
        "setup_message",
        "setup_checked_at",
        "alert",
        "created_at",
    ]
    actions = ["recheck_setup"]

    def get_fields(self, request, obj=None):
        return [
            "business",
            "type",
            "config_json",
            "is_active",
            "auto_assign",
            "team",
            *self.readonly_fields,
        ]

    @admin.display(description="Webhook URL")
    def webhook_url(self, channel: Channel) -> str:
        if channel._state.adding:
            return "—"
        url = get_platform(channel.type).webhook_url(channel)
        return format_html("<code>{}</code>", url) if url else "—"

    @admin.display(description="Values to enter on the platform's side")
    def platform_setup_values(self, channel: Channel) -> str:
        if channel._state.adding:
            return "—"
        values = get_platform(channel.type).public_config_extra(channel, reveal=False)
        if not values:
            return "—"
        return format_html("<pre>{}</pre>", json.dumps(values, indent=2))

    def save_model(self, request, obj: Channel, form, change: bool) -> None:
        data = form.cleaned_data
        if change:
            saved = channel_update(
                channel=obj,
                channel_type=data["type"],
                config=data["clean_config"],
                is_active=data["is_active"],
            )
        else:
            saved = channel_create(
                business=data["business"],
                channel_type=data["type"],
                config=data["clean_config"],
                is_active=data["is_active"],
            )
        saved = channel_routing_update(
            channel=saved, auto_assign=data["auto_assign"], team=data["team"]
        )
        obj.pk = saved.pk
        obj.__dict__.update(
            {k: v for k, v in saved.__dict__.items() if not k.startswith("_")}
        )
        level = messages.SUCCESS if saved.setup_state == "ready" else messages.WARNING
        self.message_user(
            request,
            f"Setup: {saved.get_setup_state_display()}. {saved.setup_message}",
            level,
        )

    def delete_model(self, request, obj: Channel) -> None:
        channel_delete(channel=obj)

    def delete_queryset(self, request, queryset) -> None:
        for channel in queryset:
            channel_delete(channel=channel)

    @admin.action(description="Re-run platform setup")
    def recheck_setup(self, request, queryset) -> None:
        for channel in queryset:
            channel_setup(channel=channel)
            state = channel.get_setup_state_display()
            self.message_user(request, f"{channel}: {state}. {channel.setup_message}")


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

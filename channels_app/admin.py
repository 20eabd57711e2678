"""Channels in Django admin, with the API's validation, plan limits and masking."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.forms import Script
from django.utils.html import format_html, format_html_join
from rest_framework import serializers
from rest_framework.fields import empty

from billing.admin_scope import VIEW, BusinessScopedAdmin
from channels_app.models import Channel, InboundEvent
from channels_app.platforms import get_platform
from channels_app.services import (
    ConfigInvalid,
    channel_config_clean,
    channel_create,
    channel_delete,
    channel_plan_check,
    channel_setup,
    channel_update,
)
from channels_app.services.channels import mask_secret
from channels_app.services.inbound import inbound_event_replay
from channels_app.services.routing import NO_SUCH_TEAM, channel_routing_update
from pingback.errors import PlanLimitExceeded


def config_field_name(channel_type: str, name: str) -> str:
    """The admin form field of config key `name` of `channel_type`
    (`telegram__bot_token`): each type has its own fields, shown while it is
    the chosen type."""
    return f"{channel_type}__{name}"


def config_form_fields(channel_type: str) -> dict[str, forms.Field]:
    """One form field per config key of `channel_type`'s
    `Platform.config_serializer`, except the fields setup learns, keyed by
    `config_field_name`.

    Every field is optional in the form: the platform's serializer decides
    what is required and says so in its own words (`channel_config_clean`).
    Secrets (`Platform.secret_fields`) are password inputs that never show
    the stored value; a list is one item per line; a choice offers the
    serializer's choices.
    """
    platform = get_platform(channel_type)
    fields: dict[str, forms.Field] = {}
    for name, spec in platform.config_serializer().fields.items():
        if name in platform.learned_fields or spec.read_only:
            continue
        label = str(spec.label or name.replace("_", " ").capitalize())
        if spec.required:
            label = f"{label} (required)"
        help_text = str(spec.help_text or "")
        default = None if spec.default is empty else spec.default
        common = {"label": label, "required": False, "help_text": help_text}
        if name in platform.secret_fields:
            field = forms.CharField(
                widget=forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                ),
                strip=False,
                **common,
            )
        elif isinstance(spec, serializers.ChoiceField):
            field = forms.ChoiceField(
                choices=[("", "—"), *spec.choices.items()], initial=default, **common
            )
        elif isinstance(spec, serializers.ListField):
            common["help_text"] = f"{help_text} One per line.".strip()
            field = forms.CharField(
                widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), **common
            )
        elif isinstance(spec, serializers.BooleanField):
            field = forms.BooleanField(initial=default, **common)
        elif isinstance(spec, serializers.IntegerField):
            field = forms.IntegerField(initial=default, **common)
        else:
            field = forms.CharField(
                initial=default,
                widget=forms.TextInput(attrs={"size": 60}),
                **common,
            )
        fields[config_field_name(channel_type, name)] = field
    return fields


def _messages(errors: Any) -> list[str]:
    """A serializer's error messages, flattened (a list item's errors are
    `{index: [messages]}`)."""
    if isinstance(errors, dict):
        return [
            f"Item {int(key) + 1}: {msg}" if str(key).isdigit() else msg
            for key, value in errors.items()
            for msg in _messages(value)
        ]
    if isinstance(errors, list | tuple):
        return [msg for item in errors for msg in _messages(item)]
    return [str(errors)]


class ChannelAdminForm(forms.ModelForm):
    """A channel, its config as one field per config key of its type
    (`config_form_fields`), checked by the channel services as the API checks
    it: the plan (`channel_plan_check`, its 402 message on `type`), then the
    config (`channel_config_clean`: the platform serializer's messages on
    each field, the platform's refusal of a credential). A secret left blank
    keeps the stored one."""

    class Meta:
        model = Channel
        fields = ["business", "type", "is_active", "auto_assign", "team"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for channel_type in Channel.Type.values:
            self.fields.update(config_form_fields(channel_type))
        channel = self.instance
        if not channel._state.adding:
            platform = get_platform(channel.type)
            for name, value in channel.config.items():
                key = config_field_name(channel.type, name)
                if key in self.fields and name not in platform.secret_fields:
                    if isinstance(value, list):
                        value = "\n".join(map(str, value))
                    self.fields[key].initial = value
            for name, value in channel.secrets.items():
                key = config_field_name(channel.type, name)
                if key in self.fields:
                    field = self.fields[key]
                    field.widget.attrs["placeholder"] = mask_secret(value)
                    field.help_text = (
                        f"{field.help_text} Stored ({mask_secret(value)}); "
                        "leave blank to keep it."
                    ).strip()

    def _config(self, channel_type: str, *, merging: bool) -> dict[str, Any]:
        """The config the form gives for `channel_type`: secrets left blank
        are left out (the stored one stays); other blank fields are left out
        on a new config, removed (null) from a stored one (`merging`)."""
        platform = get_platform(channel_type)
        config: dict[str, Any] = {}
        prefix = config_field_name(channel_type, "")
        for key in self.fields:
            if not key.startswith(prefix):
                continue
            name = key.removeprefix(prefix)
            value = self.cleaned_data.get(key)
            if isinstance(self.fields[key].widget, forms.Textarea):
                value = [line.strip() for line in (value or "").splitlines()]
                value = [line for line in value if line]
            if value in (None, "", []):
                if merging and name not in platform.secret_fields:
                    config[name] = None
                continue
            config[name] = value
        return config

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
        if business and (adding or channel_type != self.instance.type):
            try:
                channel_plan_check(
                    business=business,
                    channel_type=channel_type,
                    channel=None if adding else self.instance,
                )
            except PlanLimitExceeded as error:
                raise forms.ValidationError({"type": error.detail}) from error
        current = None if adding else Channel.objects.get(pk=self.instance.pk)
        merging = current is not None and current.type == channel_type
        try:
            cleaned["clean_config"] = channel_config_clean(
                channel_type=channel_type,
                config=self._config(channel_type, merging=merging),
                current=current,
            )
        except ConfigInvalid as error:
            for name, errors in error.errors.items():
                key = config_field_name(channel_type, name)
                target = key if key in self.fields else None
                for message in _messages(errors):
                    general = target or name == "non_field_errors"
                    self.add_error(target, message if general else f"{name}: {message}")
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
    search_fields = ["id", "business__name"]
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
            (None, {"fields": ["business", "type", "is_active", "auto_assign", "team"]})
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
        kwargs["fields"] = ["business", "type", "is_active", "auto_assign", "team"]
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
        values = get_platform(channel.type).public_config_extra(channel, reveal=True)
        rows = []
        for key, value in values.items():
            if isinstance(value, dict):
                rows += [(f"{key}.{k}", v) for k, v in value.items()]
            else:
                rows.append((key, value))
        if not rows:
            return "—"
        return format_html_join(
            "",
            "<div><strong>{}</strong><br>{}</div>",
            (
                (
                    _LABELS.get(key, key.strip("_").replace("_", " ")),
                    _copyable(f"setup-{index}", str(value))
                    if key in _COPYABLE
                    else value,
                )
                for index, (key, value) in enumerate(rows)
            ),
        )

    @admin.display(description="Learned from the platform")
    def learned_values(self, channel: Channel) -> str:
        """What setup learned from the platform (`Platform.learned_fields`,
        e.g. Telegram's `bot_username`): read-only."""
        if channel._state.adding:
            return "—"
        learned = get_platform(channel.type).learned_fields
        rows = [(k, v) for k, v in channel.config.items() if k in learned]
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


# Values pasted on the platform's side, shown with a Copy button.
_COPYABLE = frozenset(
    {
        "_meta_setup_instructions.callback_url",
        "_meta_setup_instructions.verify_token",
        "_embed_snippet",
    }
)
_LABELS = {
    "_meta_setup_instructions.callback_url": "Callback URL",
    "_meta_setup_instructions.verify_token": "Verify token",
    "_meta_setup_instructions.app_secret_missing": "App secret missing",
    "_embed_snippet": "Embed snippet",
}


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

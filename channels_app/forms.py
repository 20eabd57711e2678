"""The channel form's parts, shared by Django admin (`channels_app.admin`)
and the channel settings pages (`channels_app.settings_views`): one form
field per config key of a channel type, checked as the API checks a channel
(the plan, then the platform's serializer and credential check), and what
the platform's side needs from PingBack once the channel is stored."""

from __future__ import annotations

from typing import Any

from django import forms
from rest_framework import serializers
from rest_framework.fields import empty

from billing.models import Business
from channels_app.models import Channel
from channels_app.platforms import get_platform
from channels_app.services import (
    ChannelConfig,
    ConfigInvalid,
    channel_config_clean,
    channel_plan_check,
)
from channels_app.services.channels import mask_secret
from pingback.errors import PlanLimitExceeded


def config_field_name(channel_type: str, name: str) -> str:
    """The form field of config key `name` of `channel_type`
    (`telegram__bot_token`): each type has its own fields."""
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


def error_messages(errors: Any) -> list[str]:
    """A serializer's error messages, flattened (a list item's errors are
    `{index: [messages]}`)."""
    if isinstance(errors, dict):
        return [
            f"Item {int(key) + 1}: {msg}" if str(key).isdigit() else msg
            for key, value in errors.items()
            for msg in error_messages(value)
        ]
    if isinstance(errors, list | tuple):
        return [msg for item in errors for msg in error_messages(item)]
    return [str(errors)]


class ChannelConfigFormMixin:
    """For a Django form holding a channel's config as one field per config
    key (`add_config_fields`), checked by the channel services as the API
    checks it (`clean_channel_config`). A secret left blank keeps the stored
    one; a stored secret is shown masked in its placeholder and help text."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]

    def add_config_fields(self, channel_types, channel: Channel | None) -> None:
        """Add the config fields of each of `channel_types`, with a stored
        `channel`'s values as their initial values (its secrets masked)."""
        for channel_type in channel_types:
            self.fields.update(config_form_fields(channel_type))
        if channel is None:
            return
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

    def config_fields_of(self, channel_type: str) -> list[str]:
        """The names of `channel_type`'s config fields in this form."""
        prefix = config_field_name(channel_type, "")
        return [key for key in self.fields if key.startswith(prefix)]

    def _config(self, channel_type: str, *, merging: bool) -> dict[str, Any]:
        """The config the form gives for `channel_type`: secrets left blank
        are left out (the stored one stays); other blank fields are left out
        on a new config, removed (null) from a stored one (`merging`)."""
        platform = get_platform(channel_type)
        config: dict[str, Any] = {}
        prefix = config_field_name(channel_type, "")
        for key in self.config_fields_of(channel_type):
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

    def clean_channel_config(
        self,
        *,
        business: Business | None,
        channel_type: str,
        channel: Channel | None,
        plan_field: str | None,
    ) -> ChannelConfig | None:
        """The form's config for `channel_type`, checked: first the plan
        (`channel_plan_check`, for a new channel or a type change; its
        `PlanLimitExceeded` message goes on `plan_field`, None: above the
        form), then the config (`channel_config_clean`: the platform
        serializer's messages on each field, the platform's refusal of a
        credential). None, with the errors added to the form, when refused."""
        adding = channel is None
        if business and (adding or channel_type != channel.type):
            try:
                channel_plan_check(
                    business=business, channel_type=channel_type, channel=channel
                )
            except PlanLimitExceeded as error:
                self.add_error(plan_field, error.detail)
                return None
        current = None if adding else Channel.objects.get(pk=channel.pk)
        merging = current is not None and current.type == channel_type
        try:
            return channel_config_clean(
                channel_type=channel_type,
                config=self._config(channel_type, merging=merging),
                current=current,
            )
        except ConfigInvalid as error:
            for name, errors in error.errors.items():
                key = config_field_name(channel_type, name)
                target = key if key in self.fields else None
                for message in error_messages(errors):
                    general = target or name == "non_field_errors"
                    self.add_error(target, message if general else f"{name}: {message}")
            return None


# Values pasted on the platform's side, shown with a Copy button.
COPYABLE = frozenset(
    {
        "_meta_setup_instructions.callback_url",
        "_meta_setup_instructions.verify_token",
        "_embed_snippet",
    }
)
LABELS = {
    "_meta_setup_instructions.callback_url": "Callback URL",
    "_meta_setup_instructions.verify_token": "Verify token",
    "_meta_setup_instructions.app_secret_missing": "App secret missing",
    "_embed_snippet": "Embed snippet",
}


def platform_setup_values(channel: Channel) -> list[dict[str, Any]]:
    """What the platform's dashboard needs from PingBack, in clear for the
    business's admins (the API masks the verify token): for Meta channels
    the callback URL and verify token, for the widget its embed snippet.
    Each as `{"key", "label", "value", "copyable"}`, in the platform's order."""
    values = get_platform(channel.type).public_config_extra(channel, reveal=True)
    rows: list[tuple[str, Any]] = []
    for key, value in values.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", v) for k, v in value.items()]
        else:
            rows.append((key, value))
    return [
        {
            "key": key,
            "label": LABELS.get(key, key.strip("_").replace("_", " ")),
            "value": value,
            "copyable": key in COPYABLE,
        }
        for key, value in rows
    ]


def learned_values(channel: Channel) -> list[tuple[str, Any]]:
    """What setup learned from the platform (`Platform.learned_fields`,
    e.g. Telegram's `bot_username`), as (key, value) pairs."""
    learned = get_platform(channel.type).learned_fields
    return [(k, v) for k, v in channel.config.items() if k in learned]

"""System check: every channel type has a platform in the registry."""

from django.core.checks import Error, register


@register()
def check_platform_registry(app_configs, **kwargs) -> list[Error]:
    from channels_app.models import Channel
    from channels_app.platforms import REGISTRY

    return [
        Error(
            f"Channel type {channel_type!r} has no platform in the registry.",
            hint="Add a line for it to channels_app/platforms/__init__.py.",
            id="channels_app.E001",
        )
        for channel_type in Channel.Type.values
        if channel_type not in REGISTRY
    ]

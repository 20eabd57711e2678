"""System check: the webhook settings can disable a dead endpoint."""

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_disable_before_giving_up(app_configs, **kwargs) -> list[Warning]:
    """`webhooks.W001` when `WEBHOOK_DISABLE_AFTER` is not shorter than
    `WEBHOOK_RETRY_FOR`: an endpoint's failing streak is only judged when an
    attempt fails, and the last attempts come before an event is
    `WEBHOOK_RETRY_FOR` old, so a dead endpoint that gets no new events would
    never be disabled and its admins never told."""
    if settings.WEBHOOK_DISABLE_AFTER < settings.WEBHOOK_RETRY_FOR:
        return []
    return [
        Warning(
            "WEBHOOK_DISABLE_AFTER "
            f"({settings.WEBHOOK_DISABLE_AFTER:g} s) is not shorter than "
            f"WEBHOOK_RETRY_FOR ({settings.WEBHOOK_RETRY_FOR:g} s): an endpoint "
            "that stops answering is never disabled, and its admins are never "
            "told, unless new events keep coming.",
            hint="Set WEBHOOK_DISABLE_AFTER below WEBHOOK_RETRY_FOR "
            "(defaults: 129600 and 172800).",
            id="webhooks.W001",
        )
    ]

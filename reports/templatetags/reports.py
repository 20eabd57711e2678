"""Template filters of the reports page: durations and grouping names."""

from django import template
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

register = template.Library()

GROUP_LABELS = {
    "day": gettext_lazy("Day"),
    "channel": gettext_lazy("Channel"),
    "agent": gettext_lazy("Agent"),
    "team": gettext_lazy("Team"),
    "label": gettext_lazy("Label"),
}


@register.filter
def duration(seconds: float | None) -> str:
    """`45s`, `12m`, `3h 05m`, `2d 4h`; `—` for None (nothing measured)."""
    if seconds is None:
        return "—"
    total = round(seconds)
    if total < 60:
        return _("%(n)ss") % {"n": total}
    minutes = total // 60
    if minutes < 60:
        return _("%(n)sm") % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)sh %(m)02dm") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)sd %(h)sh") % {"d": days, "h": hours}


@register.filter
def group_label(group: str) -> str:
    """The grouping's name as the page shows it ("Agent")."""
    return str(GROUP_LABELS.get(group, group))

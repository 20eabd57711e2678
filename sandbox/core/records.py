"""Records of the stand-ins as JSON objects: each platform's accounts, apps
and files show some of their attributes, under the platform's own names."""

from __future__ import annotations

from typing import Any


def pick(record: Any, *names: str, **renamed: str) -> dict[str, Any]:
    """``{name: record.<name>}`` for each of ``names``, then
    ``{key: record.<attribute>}`` for each ``key="attribute"`` of
    ``renamed``, in that order. Raises ``AttributeError`` for a name the
    record lacks."""
    shown = {name: getattr(record, name) for name in names}
    shown.update({key: getattr(record, name) for key, name in renamed.items()})
    return shown


def clear_all(*collections: Any) -> None:
    """Empty each of ``collections`` (lists, dicts, sets) in place: a
    stand-in's ``reset``."""
    for collection in collections:
        collection.clear()

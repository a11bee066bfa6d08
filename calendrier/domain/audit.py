"""Who changed what: one row per change to events, occurrences and bookings."""

from __future__ import annotations

from typing import Any

from ..extensions import db
from ..models import AuditEntry, User


def record(actor: User | None, action: str, obj: Any, *args: Any, **kwargs: Any) -> AuditEntry:
    """Add an audit row to the caller's transaction (it commits with the change).

    Takes what ``entry_fields`` takes.
    """
    entry = AuditEntry(**entry_fields(actor, action, obj, *args, **kwargs))
    db.session.add(entry)
    return entry


def entry_fields(
    actor: User | None,
    action: str,
    obj: Any,
    organisation_id: int | None = None,
    *,
    object_type: str | None = None,
    changes: dict[str, Any] | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The columns of ``record``'s row (a statement that writes it itself takes these).

    ``object_type`` names what the row is about when no row of ours is (``obj=None``),
    e.g. ``"person"`` for a request about one email address. ``changes``: the fields
    changed (``{name: [before, after]}``), whatever their names, ``organisation_id``
    included (a venue or an account moved to another organisation).
    """
    details = {**details, **(changes or {})}
    return {
        "user_id": actor.id if actor is not None else None,
        "organisation_id": organisation_id,
        "action": action,
        "object_type": object_type or type(obj).__name__.lower(),
        "object_id": getattr(obj, "id", None),
        "details": {k: _plain(v) for k, v in details.items()},
    }


def _plain(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)

"""What free text people type may hold, for every door and rule that takes some."""


def has_control_characters(value: str, *, multiline: bool = False) -> bool:
    """Characters no one types, NUL among them (PostgreSQL refuses it in text).

    ``multiline``: tabs and line breaks are fine (a message, a description).
    """
    allowed = "\t\n\r" if multiline else ""
    return any((ord(c) < 32 and c not in allowed) or c == "\x7f" for c in value)

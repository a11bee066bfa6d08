"""Every string shown to people has its French translation, in one of the catalogues.

Each area keeps its own catalogue (``calendrier/**/translations``); Flask-Babel merges
them. This extracts every message from the code and templates (babel.cfg) and fails on
any msgid that no French catalogue translates (empty or fuzzy, which compile ignores),
and on translations whose placeholders do not match the msgid.
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "calendrier"


def catalogues() -> list[Path]:
    return sorted(PACKAGE.glob("**/translations/fr/LC_MESSAGES/messages.po"))


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, locale="fr")


def extracted() -> dict[tuple[str | None, str], list[str]]:
    """(context, msgid) -> where it is used, from the same mapping babel.cfg gives pybabel."""
    method_map = [
        ("calendrier/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    found: dict[tuple[str | None, str], list[str]] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map=method_map,
        options_map={"templates/**.html": {}, "templates/**.txt": {}},
        keywords={
            "_": None,
            "gettext": None,
            "ngettext": (1, 2),
            "lazy_gettext": None,
            "_l": None,
            "lazy_ngettext": (1, 2),
            "N_": None,
            "pgettext": ((1, "c"), 2),
            "npgettext": ((1, "c"), 2, 3),
        },
    ):
        if filename.startswith((".venv", "tests")):
            continue
        msgid = message[0] if isinstance(message, tuple) else message
        if msgid:
            found.setdefault((context, msgid), []).append(f"{filename}:{lineno}")
    return found


def test_every_catalogue_compiles_and_its_placeholders_match(tmp_path):
    assert catalogues(), "no French catalogue found"
    problems = []
    for path in catalogues():
        catalog = read(path)
        for message, errors in catalog.check():
            problems.extend(f"{path.relative_to(ROOT)}: {message.id!r}: {e}" for e in errors)
        with (tmp_path / "messages.mo").open("wb") as f:
            write_mo(f, catalog)
    assert not problems, "\n".join(problems)


def test_no_string_is_left_untranslated_in_french():
    translated: set[tuple[str | None, str]] = set()
    for path in catalogues():
        for message in read(path):
            if not message.id or message.fuzzy:
                continue
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if all(s.strip() for s in strings):
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                translated.add((message.context, ids[0]))
    missing = {msgid: where for msgid, where in extracted().items() if msgid not in translated}
    report = "\n".join(
        f"{where[0]}: {msgid!r}" + (f" (context {context!r})" if context else "")
        for (context, msgid), where in sorted(missing.items(), key=lambda item: item[1][0])
    )
    assert not missing, f"{len(missing)} strings have no French translation:\n{report}"


def test_catalogues_agree_where_they_translate_the_same_string():
    """Flask-Babel merges the catalogues: the same msgid translated twice means one loses."""
    seen: dict[tuple, tuple[object, Path]] = {}
    clashes = []
    for path in catalogues():
        for message in read(path):
            if not message.id or message.fuzzy or not message.string:
                continue
            key = (message.context, message.id)
            if key in seen and seen[key][0] != message.string:
                other_string, other_path = seen[key]
                clashes.append(
                    f"{message.id!r}: {other_string!r} ({other_path.relative_to(ROOT)}) "
                    f"vs {message.string!r} ({path.relative_to(ROOT)})"
                )
            seen.setdefault(key, (message.string, path))
    assert not clashes, "\n".join(clashes)

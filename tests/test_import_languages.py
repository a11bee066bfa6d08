"""English texts through iCalendar: calendrier's feeds write them, its import and its sources
read them back (issue 13). RFC 5545 allows one SUMMARY and one DESCRIPTION per VEVENT; the
other language travels in ``X-CALENDRIER-SUMMARY;LANGUAGE=en`` and
``X-CALENDRIER-DESCRIPTION;LANGUAGE=en`` (domain/import_texts.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar
from sqlalchemy import select

from calendrier.domain import catalogue, sources
from calendrier.extensions import db
from calendrier.models import Event, Occurrence, Venue
from calendrier.timeutil import utcnow

from .ical_parsers import libical_restriction_errors
from .test_bad_input import _ics_text, hammer, mostly, nice_texts, snapshot, texts
from .test_import import calendar, count, log_in, run, upload
from .test_sources import Feed

# Ten days ahead, on the hour: the same instant in every file a test writes.
START = f"{utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=10):%Y%m%dT%H%M%SZ}"


def english_vevent(uid: str, *texts: str, location: str = "Grande halle") -> str:
    """A VEVENT with these text lines as written (``SUMMARY;LANGUAGE=fr:…``, X-properties)."""
    return "\n".join(
        [
            "BEGIN:VEVENT",
            f"UID:{uid}",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART:{START}",
            "DURATION:PT2H",
            f"LOCATION:{location}",
            *texts,
            "END:VEVENT",
        ]
    )


NIGHT = (
    "SUMMARY;LANGUAGE=fr:Nuit du court",
    "X-CALENDRIER-SUMMARY;LANGUAGE=en:Short Film Night",
    "DESCRIPTION;LANGUAGE=fr:Des courts métrages toute la nuit.\\n\\nEntrée libre\\, "
    "sans réservation.",
    "X-CALENDRIER-DESCRIPTION;LANGUAGE=en:Short films all night\\; bring a friend.\\n\\n"
    "Free entry\\, no booking.",
)


def event_by_uid(uid: str) -> Event:
    db.session.expire_all()
    return db.session.scalar(select(Event).where(Event.external_uid == uid))


@pytest.fixture
def organisation(make):
    organisation = make.organisation(slug="cinema", name="Cinéma")
    make.venue(name="Grande halle")
    return organisation


def test_an_imported_files_english_texts_are_in_the_json_and_the_english_page(client, organisation):
    report = run(calendar(english_vevent("night@example.org", *NIGHT)), organisation)
    assert report.events_created == 1, report

    event = event_by_uid("night@example.org")
    english = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in english
    assert "<h1>Short Film Night</h1>" in english  # English, as the page: no lang="fr"
    assert '<p class="lead">Short films all night; bring a friend.</p>' in english
    french = client.get(f"/events/{event.slug}?lang=fr").get_data(as_text=True)
    assert "<h1>Nuit du court</h1>" in french and "Short Film Night" not in french
    body = client.get(f"/api/v1/events/{event.slug}").json
    assert (body["title"], body["title_en"]) == ("Nuit du court", "Short Film Night")
    assert body["summary"] == "Des courts métrages toute la nuit."
    assert body["summary_en"] == "Short films all night; bring a friend."
    assert (
        body["description_en"]
        == "Short films all night; bring a friend.\n\nFree entry, no booking."
    )


def test_a_file_in_english_only_gives_its_title_in_both_languages(client, organisation):
    """The catalogue needs a French title: the English one stands in, and says it is English."""
    data = calendar(
        english_vevent(
            "talk@example.org",
            "SUMMARY;LANGUAGE=en-GB:Meet the animators",
            "DESCRIPTION;LANGUAGE=en-GB:An evening with the studio.",
        )
    )
    assert run(data, organisation).events_created == 1
    event = event_by_uid("talk@example.org")
    assert (event.title, event.title_en) == ("Meet the animators", "Meet the animators")
    assert event.description_en == "An evening with the studio."
    english = client.get(f"/events/{event.slug}?lang=en").get_data(as_text=True)
    assert "<h1>Meet the animators</h1>" in english
    assert 'lang="fr">An evening' not in english


def test_a_new_export_changes_or_clears_the_english_texts(client, organisation):
    run(calendar(english_vevent("night@example.org", *NIGHT)), organisation)
    changed = (
        NIGHT[0],
        "X-CALENDRIER-SUMMARY;LANGUAGE=en:Short Film Night (new edition)",
        NIGHT[2],
        "X-CALENDRIER-DESCRIPTION;LANGUAGE=en:All-night shorts.",
    )
    report = run(calendar(english_vevent("night@example.org", *changed)), organisation)
    assert report.events_updated == 1
    event = event_by_uid("night@example.org")
    assert event.title_en == "Short Film Night (new edition)"
    assert (event.summary_en, event.description_en) == ("All-night shorts.", "All-night shorts.")
    assert event.summary == "Des courts métrages toute la nuit."  # French unchanged

    # The file still names its language, and has no English any more: cleared.
    french_only = calendar(english_vevent("night@example.org", NIGHT[0], NIGHT[2]))
    assert run(french_only, organisation).events_updated == 1
    event = event_by_uid("night@example.org")
    assert (event.title_en, event.summary_en, event.description_en) == ("", "", "")
    assert '<h1 lang="fr">Nuit du court</h1>' in client.get(
        f"/events/{event.slug}?lang=en"
    ).get_data(as_text=True)
    assert not run(french_only, organisation).changed  # and again: nothing to do

    # A file that names no language (most calendars') says nothing of English: the English
    # title written here stays through the next import of the same programme.
    catalogue.update_event(event.id, title_en="Short Film Night")
    plain = calendar(
        english_vevent(
            "night@example.org",
            "SUMMARY:Nuit du court",
            "DESCRIPTION:Des courts métrages toute la nuit.\\n\\nEntrée libre\\, sans réservation.",
        )
    )
    assert not run(plain, organisation).changed
    assert event_by_uid("night@example.org").title_en == "Short Film Night"


def test_a_bad_english_text_is_refused_with_its_reason_and_nothing_written(
    client, make, organisation
):
    too_long = "X-CALENDRIER-SUMMARY;LANGUAGE=en:" + "T" * 201
    data = calendar(
        english_vevent("long@example.org", NIGHT[0], too_long, location="Salle neuve"),
        english_vevent(
            "bell@example.org",
            NIGHT[0],
            "X-CALENDRIER-DESCRIPTION;LANGUAGE=en:Ring\x07ring",
            location="Salle neuve",
        ),
        english_vevent("fine@example.org", *NIGHT),
    )
    venues = count(Venue)
    report = run(data, organisation)
    reasons = {line.uid: line.reason for line in report.skipped}
    assert reasons["long@example.org"] == (
        "X-CALENDRIER-SUMMARY;LANGUAGE=en est trop long (au plus 200 caractères)."
    )
    assert reasons["bell@example.org"] == (
        "X-CALENDRIER-DESCRIPTION;LANGUAGE=en contient des caractères interdits."
    )
    assert event_by_uid("long@example.org") is None and event_by_uid("bell@example.org") is None
    assert count(Venue) == venues  # "Salle neuve" was not made for refused events
    assert report.events_created == 1  # the event beside them is imported

    # An existing event keeps everything it had when its new export is refused.
    fine = event_by_uid("fine@example.org")
    dates = [(o.starts_at, o.ends_at) for o in fine.occurrences]
    again = calendar(english_vevent("fine@example.org", "SUMMARY;LANGUAGE=fr:Autre", too_long))
    report = run(again, organisation)
    assert not report.changed and "trop long" in report.skipped[0].reason
    fine = event_by_uid("fine@example.org")
    assert (fine.title, fine.title_en) == ("Nuit du court", "Short Film Night")
    assert [(o.starts_at, o.ends_at) for o in fine.occurrences] == dates

    # The upload page says the same, event by event, and answers 200.
    log_in(client, make.user(organisation=organisation))
    response = upload(client, data, organisation=str(organisation.id))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "X-CALENDRIER-SUMMARY;LANGUAGE=en est trop long" in page


def test_english_texts_are_stored_as_sent_or_refused_with_their_reason(organisation):
    """Whatever the English texts hold: the event is imported with them as sent (titles on
    one line), or refused for a reason that names them, and nothing of it is written."""
    outcomes = {"stored": 0, "refused": 0}
    uids = iter(range(10_000))

    @hammer
    @given(title_en=mostly(nice_texts, texts), description_en=mostly(st.just(""), texts))
    def check(title_en, description_en):
        uid = f"night-{next(uids)}@example.org"
        data = calendar(
            english_vevent(
                uid,
                "SUMMARY;LANGUAGE=fr:Nuit du court",
                f"X-CALENDRIER-SUMMARY;LANGUAGE=en:{_ics_text(title_en)}",
                f"X-CALENDRIER-DESCRIPTION;LANGUAGE=en:{_ics_text(description_en)}",
            )
        )
        before = snapshot()
        report = run(data, organisation)
        event = event_by_uid(uid)
        if event is not None:
            outcomes["stored"] += 1
            assert event.title_en == " ".join(title_en.split())
            assert event.description_en.split() == description_en.split()
        else:
            outcomes["refused"] += 1
            [line] = report.skipped
            assert line.uid == uid and "X-CALENDRIER-" in line.reason, line
            assert snapshot() == before

    check()
    assert min(outcomes.values()) >= 3, outcomes  # both branches really ran


def _english_event(make) -> Event:
    venue = make.venue(name="Grande halle")
    event = make.event(
        title="Nuit du court",
        summary="Des courts métrages toute la nuit.",
        description="Projection en continu.",
        title_en="Short Film Night",
        summary_en="Short films all night, bring a friend; or two.",
        description_en="Non-stop screening.",
    )
    make.occurrence(event=event, venue=venue)
    return event


def test_the_feeds_carry_both_languages_and_libical_finds_nothing_wrong(client, make):
    event = _english_event(make)
    untranslated = make.occurrence(event=make.event(title="Visite des studios"))
    for language, other in (("fr", "en"), ("en", "fr")):
        body = client.get(f"/calendar.ics?lang={language}").data
        assert libical_restriction_errors(body) == [], language
        by_title = {}
        for vevent in Calendar.from_ical(body).walk("VEVENT"):
            by_title[str(vevent["url"]).rsplit("/", 1)[1]] = vevent
        night = by_title[event.slug]
        assert night["summary"].params["LANGUAGE"] == language
        assert night["description"].params["LANGUAGE"] == language
        title = night["x-calendrier-summary"]
        assert title.params["LANGUAGE"] == other
        expected = {"fr": "Nuit du court", "en": "Short Film Night"}
        assert str(night["summary"]) == expected[language]
        assert str(title) == expected[other]
        # Nothing in the other language to give: no X-property, SUMMARY says it is French.
        plain = by_title[untranslated.event.slug]
        assert plain["summary"].params["LANGUAGE"] == "fr"
        assert "x-calendrier-summary" not in plain and "x-calendrier-description" not in plain


def test_an_export_imported_again_gives_back_both_languages(client, organisation):
    run(calendar(english_vevent("night@example.org", *NIGHT)), organisation)
    event = event_by_uid("night@example.org")
    exports = {
        lang: client.get(f"/events/{event.slug}.ics?lang={lang}").data for lang in ["fr", "en"]
    }
    for language, export in exports.items():
        catalogue.update_event(event.id, title="Autre titre", title_en="Other", description_en="")
        run(export, organisation)
        event = event_by_uid("night@example.org")
        assert (event.title, event.title_en) == ("Nuit du court", "Short Film Night"), language
        assert event.summary_en == "Short films all night; bring a friend.", language
        assert event.description_en.startswith("Short films all night; bring a friend."), language


@pytest.fixture
def feed():
    served = Feed()
    yield served
    served.stop()


def test_a_followed_calendrier_keeps_the_english_texts(client, make, feed):
    """Another calendrier's feed, as its subscribers get it, followed here: in French, then in
    English, then with its English texts changed, then removed."""
    origin = _english_event(make)
    network = make.organisation(slug="network")
    source = sources.add_source(feed.url, "network")

    def sync(path: str, etag: str) -> Event:
        feed.body, feed.etag = client.get(path).data, etag
        report = sources.sync(source.id)
        assert report.status == "ok", report
        db.session.expire_all()
        return db.session.scalar(select(Event).where(Event.organisation_id == network.id))

    copy = sync(f"/events/{origin.slug}.ics", '"fr"')
    assert (copy.title, copy.title_en) == ("Nuit du court", "Short Film Night")
    assert copy.summary == "Des courts métrages toute la nuit."
    assert copy.summary_en == "Short films all night, bring a friend; or two."
    english = client.get(f"/events/{copy.slug}?lang=en").get_data(as_text=True)
    assert "<h1>Short Film Night</h1>" in english
    assert '<p class="lead">Short films all night, bring a friend; or two.</p>' in english

    copy = sync(f"/events/{origin.slug}.ics?lang=en", '"en"')  # the same, told in English
    assert (copy.title, copy.title_en) == ("Nuit du court", "Short Film Night")
    assert copy.summary == "Des courts métrages toute la nuit."
    assert copy.summary_en == "Short films all night, bring a friend; or two."

    catalogue.update_event(origin.id, title_en="Short Film Night, 10th edition")
    copy = sync(f"/events/{origin.slug}.ics", '"changed"')
    assert copy.title_en == "Short Film Night, 10th edition"

    catalogue.update_event(origin.id, title_en="", summary_en="", description_en="")
    copy = sync(f"/events/{origin.slug}.ics", '"removed"')
    assert (copy.title_en, copy.summary_en, copy.description_en) == ("", "", "")
    assert copy.title == "Nuit du court"
    assert db.session.scalar(select(Occurrence.status).where(Occurrence.event_id == copy.id)) == (
        "scheduled"
    )

"""Building the programme: events, occurrences, recurrences, venues, accounts (domain calls)."""

import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import catalogue
from calendrier.domain.errors import InvalidInput
from calendrier.domain.outbox import render
from calendrier.extensions import db
from calendrier.models import AuditEntry, Event, Occurrence, OutboxMessage

# Fixed dates (clock changes, weekdays) are the point here: run on the suite's fixed day.
pytestmark = pytest.mark.clock

PARIS = ZoneInfo("Europe/Paris")


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def audit_actions() -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


# --- events ---------------------------------------------------------------------


def test_event_gets_a_readable_unique_address_from_its_title(make):
    org = make.organisation()
    actor = make.user(organisation=org)
    first = catalogue.create_event(org.id, title="Fête d'été au studio", kind="talk", actor=actor)
    second = catalogue.create_event(org.id, title="Fête d'été au studio", kind="talk")
    assert first.slug == "fete-d-ete-au-studio"
    assert second.slug == "fete-d-ete-au-studio-2"
    assert first.status == "published"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.object_id == first.id))
    assert (entry.action, entry.user_id, entry.organisation_id) == (
        "event.created",
        actor.id,
        org.id,
    )


def test_event_input_errors_name_their_fields_and_write_nothing(make):
    org = make.organisation()
    with pytest.raises(InvalidInput) as error:
        catalogue.create_event(org.id, title="  ", kind="party", status="secret")
    assert set(error.value.errors) == {"title", "kind", "status"}
    assert error.value.messages()["title"] == ["Ce champ est obligatoire."]  # French by default
    assert count(Event) == 0
    assert count(AuditEntry) == 0


def test_draft_event_and_publish_unpublish(make):
    org = make.organisation()
    event = catalogue.create_event(org.id, title="Atelier", kind="workshop", status="draft")
    assert event.status == "draft"
    catalogue.publish_event(event.id)
    assert db.session.get(Event, event.id).status == "published"
    catalogue.unpublish_event(event.id)
    assert db.session.get(Event, event.id).status == "draft"
    assert audit_actions()[-2:] == ["event.published", "event.unpublished"]


def test_programme_belongs_only_to_a_festival_of_the_same_organisation(make):
    org = make.organisation()
    festival = catalogue.create_event(org.id, title="Festival", kind="festival")
    talk = catalogue.create_event(org.id, title="Rencontre", kind="talk", parent=festival.slug)
    assert talk.parent_id == festival.id
    assert catalogue.festival_programme(festival.id) == [talk]

    with pytest.raises(InvalidInput) as error:
        catalogue.create_event(org.id, title="Autre", kind="talk", parent=talk.slug)
    assert "parent" in error.value.errors
    with pytest.raises(InvalidInput):
        catalogue.create_event(org.id, title="Sous-festival", kind="festival", parent=festival.id)
    other = make.organisation()
    with pytest.raises(InvalidInput):
        catalogue.create_event(other.id, title="Intrus", kind="talk", parent=festival.slug)
    admin = make.user(is_admin=True, organisation=None)
    guest = catalogue.create_event(
        other.id, title="Invité", kind="talk", parent=festival.slug, actor=admin
    )
    assert guest.parent_id == festival.id
    with pytest.raises(InvalidInput) as error:
        catalogue.update_event(festival.id, kind="talk")
    assert "kind" in error.value.errors


def test_update_event_records_what_changed(make):
    occurrence = make.occurrence()
    event = occurrence.event
    before = occurrence.updated_at
    catalogue.update_event(event.id, title="Nouveau titre", summary="Court")
    entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry.action == "event.updated"
    assert entry.details["title"][1] == "Nouveau titre"
    assert db.session.get(Occurrence, occurrence.id).updated_at >= before
    with pytest.raises(TypeError):
        catalogue.update_event(event.id, organisation_id=3)


def test_duplicate_makes_a_draft_with_dates_moved_keeping_the_wall_clock(make):
    venue = make.venue()
    event = make.event()
    # Friday 19 March 2027 17:30 in Paris (winter time); a week later it is summer time.
    starts = datetime(2027, 3, 19, 17, 30, tzinfo=PARIS)
    make.occurrence(event=event, venue=venue, starts_at=starts, capacity=25, waitlist=True)
    make.occurrence(
        event=event, venue=venue, starts_at=starts + timedelta(days=1), status="cancelled"
    )
    copy = catalogue.duplicate_event(event.id, shift_days=7, title="Visite (copie)")
    assert copy.status == "draft" and copy.slug != event.slug
    [occurrence] = copy.occurrences
    local = occurrence.starts_at.astimezone(PARIS)
    assert (local.date(), local.time()) == (date(2027, 3, 26), time(17, 30))
    assert occurrence.capacity == 25 and occurrence.waitlist
    assert occurrence.bookings == []


# --- occurrences ----------------------------------------------------------------


def test_occurrence_naive_times_are_paris_wall_clock(make):
    event = make.event()
    venue = make.venue(capacity=30)
    occurrence = catalogue.create_occurrence(
        event.id,
        starts_at=datetime(2027, 7, 2, 17, 30),  # noqa: DTZ001 - a wall-clock time, on purpose
        ends_at=datetime(2027, 7, 2, 19, 0),  # noqa: DTZ001
        venue=venue.slug,
        capacity=25,
    )
    assert occurrence.starts_at == datetime(2027, 7, 2, 15, 30, tzinfo=ZoneInfo("UTC"))
    assert occurrence.max_seats_per_booking == 6
    assert audit_actions() == ["occurrence.created"]


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"ends_at": datetime(2027, 7, 2, 17, 0)}, {"ends_at"}),  # noqa: DTZ001
        ({"capacity": 31}, {"capacity"}),
        ({"capacity": -1}, {"capacity"}),
        ({"starts_at": datetime(2027, 3, 28, 2, 30)}, {"starts_at"}),  # noqa: DTZ001 - skipped
        (
            {
                "starts_at": datetime(2027, 10, 31, 2, 30),  # noqa: DTZ001 - happens twice
                "ends_at": datetime(2027, 10, 31, 4, 0),  # noqa: DTZ001
            },
            {"starts_at"},
        ),
        ({"venue": "nowhere"}, {"venue"}),
        ({"max_seats_per_booking": 0}, {"max_seats_per_booking"}),
        ({"cancellation_deadline_hours": -2}, {"cancellation_deadline_hours"}),
        (
            {"booking_opens_at": datetime(2027, 7, 3, 9, 0)},  # noqa: DTZ001 - after the start
            {"booking_opens_at"},
        ),
    ],
)
def test_occurrence_refuses_bad_input_field_by_field(make, changes, fields):
    event = make.event()
    venue = make.venue(capacity=30)
    data = {
        "starts_at": datetime(2027, 7, 2, 17, 30),  # noqa: DTZ001
        "ends_at": datetime(2027, 7, 2, 19, 0),  # noqa: DTZ001
        "venue": venue.id,
        "capacity": 25,
    }
    data.update(changes)
    with pytest.raises(InvalidInput) as error:
        catalogue.create_occurrence(event.id, **data)
    assert set(error.value.errors) == fields
    assert count(Occurrence) == 0


def test_moving_a_date_raises_sequence_and_tells_attendees(make):
    occurrence = make.occurrence(capacity=10)
    rules.book(occurrence.id, rules.BookingRequest(name="Ana", email="ana@example.org", seats=2))
    other_venue = make.venue()
    sequence = occurrence.sequence
    catalogue.update_occurrence(
        occurrence.id,
        starts_at=occurrence.starts_at + timedelta(hours=1),
        ends_at=occurrence.ends_at + timedelta(hours=1),
        venue=other_venue.slug,
    )
    occurrence = db.session.get(Occurrence, occurrence.id)
    assert occurrence.sequence == sequence + 1
    assert occurrence.venue_id == other_venue.id
    kinds = list(db.session.scalars(select(OutboxMessage.kind).order_by(OutboxMessage.id)))
    assert kinds == ["confirmed", "occurrence_changed"]
    changed = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert f"SEQUENCE:{sequence + 1}" in render(changed).ics

    # A change of booking options only is not a calendar change.
    catalogue.update_occurrence(occurrence.id, waitlist=True, max_seats_per_booking=4)
    assert db.session.get(Occurrence, occurrence.id).sequence == sequence + 1
    assert count(OutboxMessage) == 2


def test_invalid_update_changes_nothing(make):
    occurrence = make.occurrence(capacity=10)
    starts = occurrence.starts_at
    with pytest.raises(InvalidInput):
        catalogue.update_occurrence(
            occurrence.id, starts_at=starts + timedelta(days=1), ends_at=starts
        )
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).starts_at == starts
    assert count(AuditEntry) == 0


# --- recurrence -----------------------------------------------------------------


def weekly_fridays(**overrides):
    values = {
        "first_day": date(2027, 3, 1),
        "last_day": date(2027, 6, 30),
        "weekdays": frozenset({4}),
        "start_time": time(17, 30),
        "end_time": time(19, 0),
        "except_dates": frozenset({date(2027, 5, 14)}),
    }
    values.update(overrides)
    return catalogue.Recurrence(**values)


def test_every_friday_from_march_to_june_except_one_date(make):
    event = make.event()
    venue = make.venue()
    created = catalogue.create_recurring_occurrences(
        event.id, weekly_fridays(), venue=venue.slug, capacity=25, waitlist=True
    )
    local = [o.starts_at.astimezone(PARIS) for o in created]
    assert len(created) == 17 - 1  # 17 Fridays, one left out
    assert {(d.weekday(), d.hour, d.minute) for d in local} == {(4, 17, 30)}
    assert date(2027, 5, 14) not in {d.date() for d in local}
    assert all(o.waitlist and o.capacity == 25 for o in created)
    # Again: nothing new.
    assert (
        catalogue.create_recurring_occurrences(
            event.id, weekly_fridays(), venue=venue.slug, capacity=25
        )
        == []
    )
    assert count(Occurrence) == 16


def test_recurrence_refuses_a_time_skipped_by_the_clock_change(make):
    event = make.event()
    venue = make.venue()
    rule = weekly_fridays(weekdays=frozenset({6}), start_time=time(2, 30), end_time=time(4, 0))
    with pytest.raises(InvalidInput) as error:
        catalogue.create_recurring_occurrences(event.id, rule, venue=venue.id, capacity=5)
    assert "start_time" in error.value.errors
    assert "2027" in error.value.messages()["start_time"][0]
    assert count(Occurrence) == 0


def test_recurrence_every_two_weeks_and_limits(make):
    event = make.event()
    venue = make.venue()
    rule = weekly_fridays(every_weeks=2, except_dates=frozenset())
    days = rule.dates()
    assert all((b - a).days == 14 for a, b in itertools.pairwise(days))
    with pytest.raises(InvalidInput) as error:
        catalogue.create_recurring_occurrences(
            event.id,
            weekly_fridays(weekdays=frozenset()),
            venue=venue.id,
            capacity=5,
        )
    assert "weekdays" in error.value.errors


# --- venues, organisations, users -------------------------------------------------


def test_venue_location_change_raises_the_sequence_of_dates_to_come(make):
    venue = catalogue.create_venue(name="Salle Méliès", city="Valence", capacity=80)
    assert venue.slug == "salle-melies"
    occurrence = make.occurrence(venue=venue)
    catalogue.update_venue(venue.id, address="3 rue Neuve")
    assert db.session.get(Occurrence, occurrence.id).sequence == 1
    with pytest.raises(InvalidInput) as error:
        catalogue.create_venue(name="", capacity=0, latitude=200, timezone="Mars/Base")
    assert set(error.value.errors) == {"name", "capacity", "latitude", "timezone"}


def test_accounts_and_organisations(make):
    org = catalogue.create_organisation(name="Studio Folimage")
    assert org.slug == "studio-folimage"
    user, password = catalogue.create_user("Ana@Example.org", organisation_id=org.id, name="Ana")
    assert user.email == "ana@example.org" and user.check_password(password)
    with pytest.raises(InvalidInput) as error:
        catalogue.create_user("ana@example.org", organisation_id=org.id, password="short")
    assert set(error.value.errors) == {"email", "password"}
    with pytest.raises(InvalidInput) as error:
        catalogue.create_user("bob@example.org", organisation_id=None)
    assert "organisation_id" in error.value.errors
    admin, _ = catalogue.create_user("root@example.org", is_admin=True, organisation_id=None)
    with pytest.raises(InvalidInput):
        catalogue.update_user(admin.id, active=False, actor=admin)
    catalogue.update_user(user.id, active=False, actor=admin)
    assert not user.active
    catalogue.set_password(user.id, "a much longer one")
    assert user.check_password("a much longer one")


def test_capacity_change_goes_through_the_booking_rules(make):
    occurrence = make.occurrence(capacity=2, waitlist=True)
    for email in ("a@example.org", "b@example.org"):
        rules.book(occurrence.id, rules.BookingRequest(name="A", email=email, seats=1))
    waiting = rules.book(occurrence.id, rules.BookingRequest(name="C", email="c@x.org", seats=1))
    assert waiting.booking.status == "waitlisted"

    with pytest.raises(InvalidInput) as error:
        catalogue.update_occurrence(occurrence.id, capacity=1, waitlist=False)
    assert "2" in error.value.messages()["capacity"][0]
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).waitlist  # nothing half-written

    catalogue.change_capacity(occurrence.id, 3)
    db.session.expire_all()
    assert db.session.get(Occurrence, occurrence.id).capacity == 3
    assert rules.seats_taken(occurrence.id) == 3  # the waiting person moved up


def test_cancelling_a_date_tells_everyone_with_the_message(make):
    occurrence = make.occurrence(capacity=5)
    rules.book(occurrence.id, rules.BookingRequest(name="A", email="a@example.org", seats=1))
    catalogue.cancel_occurrence(occurrence.id, "Intempéries : le site est fermé.")
    occurrence = db.session.get(Occurrence, occurrence.id)
    assert occurrence.is_cancelled and occurrence.sequence == 1
    message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.kind == "occurrence_cancelled"
    assert "Intempéries" in render(message).text
    with pytest.raises(InvalidInput) as error:
        catalogue.update_occurrence(occurrence.id, status="scheduled")
    assert "status" in error.value.errors

"""Every rule about seats, waiting lists, approvals and cancellations.

Each public function here owns its transaction: it locks the occurrence row,
checks, writes the booking and its emails to the outbox, and commits once.
The pages, the API, the organiser area and the CLI all call these functions.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Integer, Select, bindparam, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, load_only, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db
from ..models import (
    ACTIVE_BOOKING_STATUSES,
    AuditEntry,
    Booking,
    BookingStatus,
    Event,
    EventStatus,
    Occurrence,
    OccurrenceStatus,
    OutboxMessage,
    User,
)
from ..timeutil import utcnow
from . import audit, groups, questions
from .booking_limits import check_recent, recent_public_bookings, recent_public_bookings_values
from .deadlines import cancellation_deadline
from .errors import (
    BookingClosed,
    CancellationClosed,
    CapacityBelowBookings,
    InvalidSeats,
    InvalidTransition,
    NotFound,
    OccurrenceFull,
    TooManySeats,
)
from .notifications import booking_email, queue_booking_email
from .outbox import mark_written
from .reminders import drop_reminder

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read out by phone


def new_reference() -> str:
    raw = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class BookingRequest:
    name: str
    email: str
    seats: int
    phone: str = ""
    locale: str = "fr"
    consent: bool = True
    source: str = "web"
    idempotency_key: str | None = None
    wheelchair: bool = False  # "I use a wheelchair": the party takes one held place
    answers: dict | None = None  # {"<question id>": value}, checked by questions.py
    group: groups.GroupRequest | None = None  # seats are then the group's
    checked_answers: list = field(default_factory=list, repr=False)  # set by book()


@dataclass
class BookingResult:
    booking: Booking
    created: bool  # False: an existing booking was returned (same email or idempotency key)


# --- reading ---------------------------------------------------------------


def seats_taken(occurrence_id: int) -> int:
    return db.session.scalar(
        select(func.coalesce(func.sum(Booking.seats), 0)).where(
            Booking.occurrence_id == occurrence_id,
            Booking.status == BookingStatus.CONFIRMED,
        )
    )


def seats_taken_by_occurrence(occurrence_ids: list[int]) -> dict[int, int]:
    """Confirmed seats for many occurrences in one query (list pages)."""
    if not occurrence_ids:
        return {}
    rows = db.session.execute(
        select(Booking.occurrence_id, func.sum(Booking.seats))
        .where(
            Booking.occurrence_id.in_(occurrence_ids),
            Booking.status == BookingStatus.CONFIRMED,
        )
        .group_by(Booking.occurrence_id)
    )
    taken = dict.fromkeys(occurrence_ids, 0)
    taken.update({occurrence_id: int(total) for occurrence_id, total in rows})
    return taken


def booking_window(occurrence: Occurrence) -> tuple[datetime | None, datetime]:
    """When booking opens (None: already) and closes (by default at the start)."""
    closes = occurrence.booking_closes_at or occurrence.starts_at
    return occurrence.booking_opens_at, min(closes, occurrence.starts_at)


def is_booking_open(occurrence: Occurrence, now: datetime | None = None) -> bool:
    now = now or utcnow()
    opens, closes = booking_window(occurrence)
    return (
        occurrence.status == OccurrenceStatus.SCHEDULED
        and occurrence.event.status == EventStatus.PUBLISHED
        and not occurrence.event.source_url  # a followed event is booked at its source
        and (opens is None or opens <= now)
        and now < closes
    )


def can_attendee_cancel(booking: Booking, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return booking.is_active and now < cancellation_deadline(booking.occurrence)


def find_active_booking(occurrence_id: int, email: str) -> Booking | None:
    return db.session.scalar(
        select(Booking).where(
            Booking.occurrence_id == occurrence_id,
            Booking.email == normalise_email(email),
            Booking.status.in_(ACTIVE_BOOKING_STATUSES),
        )
    )


def find_by_idempotency_key(key: str) -> Booking | None:
    return db.session.scalar(select(Booking).where(Booking.idempotency_key == key))


# --- locking ---------------------------------------------------------------


def lock_occurrence(occurrence_id: int) -> Occurrence:
    """Take the occurrence's row lock for the rest of the transaction.

    On PostgreSQL this is ``SELECT ... FOR UPDATE``; on SQLite every
    transaction already holds the database's write lock (see ``database.py``).
    Every change to an occurrence's bookings goes through here first, so the
    seat count read after it cannot change until the commit.
    """
    occurrence = db.session.scalar(
        _with_what_a_booking_reads(occurrence_id)
        # NO KEY UPDATE: as exclusive as FOR UPDATE between changes, but it does not
        # wait for the key-share locks that inserting a booking takes on its
        # occurrence (see _take_while_seats_are_free), so neither waits on the other.
        .with_for_update(of=Occurrence, key_share=True)
        .execution_options(populate_existing=True)
    )
    if occurrence is None:
        raise NotFound(occurrence_id)
    return occurrence


def _with_what_a_booking_reads(occurrence_id: int):
    """The occurrence with its event, organisation and venue, in one round trip."""
    return (
        select(Occurrence)
        .where(Occurrence.id == occurrence_id)
        .options(
            joinedload(Occurrence.event, innerjoin=True).joinedload(
                Event.organisation, innerjoin=True
            ),
            joinedload(Occurrence.venue),
        )
    )


# --- the seat counter ----------------------------------------------------------
# ``Occurrence.seats_taken`` is the occurrence's confirmed seats. Only these functions
# move it: under the occurrence's lock, or, in a rush, in one conditional UPDATE
# (``_take_seats_at_once``). The database's CHECK refuses an overbooking whatever the
# code does, and ``seat_mismatches`` (``flask seats check``) compares it with the bookings.


def seats_free(occurrence: Occurrence) -> int:
    return occurrence.capacity - occurrence.seats_taken


def _take_seats(occurrence: Occurrence, seats: int, override_capacity: bool = False) -> None:
    """Confirm ``seats`` more (caller holds the lock); ``OccurrenceFull`` if they do not fit.

    ``override_capacity``: an organiser squeezes them in beyond the capacity, which the
    CHECK allows only as ``seats_over_capacity``.
    """
    if seats > seats_free(occurrence) and not override_capacity:
        raise OccurrenceFull()
    occurrence.seats_taken += seats
    occurrence.seats_over_capacity = max(
        occurrence.seats_over_capacity, occurrence.seats_taken - occurrence.capacity
    )


def _free_seats(occurrence: Occurrence, seats: int) -> None:
    """``seats`` confirmed seats are no longer taken (caller holds the lock)."""
    occurrence.seats_taken -= seats
    _shrink_allowance(occurrence)


def _shrink_allowance(occurrence: Occurrence) -> None:
    """Seats squeezed in beyond the capacity are the first to go when seats free up."""
    occurrence.seats_over_capacity = max(
        0, min(occurrence.seats_over_capacity, occurrence.seats_taken - occurrence.capacity)
    )


def _take_seats_at_once(occurrence: Occurrence, seats: int) -> bool:
    """The rush's one statement: take ``seats`` if they fit, on a date still scheduled.

    ``UPDATE ... WHERE seats_taken + n <= capacity``: PostgreSQL takes the row's lock for
    this statement and re-reads the row if another booking changed it meanwhile, so the
    test and the change are one; the lock is then held only until the commit. False: they
    did not fit (or the date was cancelled), nothing changed.
    """
    table = Occurrence.__table__
    taken = db.session.execute(
        update(table)
        .where(
            table.c.id == occurrence.id,
            table.c.status == OccurrenceStatus.SCHEDULED,
            table.c.seats_taken + seats <= table.c.capacity,
        )
        .values(seats_taken=table.c.seats_taken + seats)
        .returning(table.c.seats_taken)
    ).scalar()
    if taken is None:
        return False
    set_committed_value(occurrence, "seats_taken", taken)
    return True


@dataclass(frozen=True)
class SeatMismatch:
    occurrence_id: int
    counted: int  # seats_taken, as kept by the rules
    confirmed: int  # the confirmed bookings' seats
    capacity: int


def seat_mismatches() -> list[SeatMismatch]:
    """Occurrences whose counter differs from their confirmed bookings (one query)."""
    confirmed = (
        select(func.coalesce(func.sum(Booking.seats), 0))
        .where(Booking.occurrence_id == Occurrence.id, Booking.status == BookingStatus.CONFIRMED)
        .scalar_subquery()
    )
    rows = db.session.execute(
        select(Occurrence.id, Occurrence.seats_taken, confirmed, Occurrence.capacity)
        .where(Occurrence.seats_taken != confirmed)
        .order_by(Occurrence.id)
    )
    return [SeatMismatch(*row) for row in rows]


def fix_seat_counters(now: datetime | None = None) -> list[SeatMismatch]:
    """Set each wrong counter to its confirmed bookings, one occurrence at a time. Commits.

    Seats found free go to the waiting list, as any other freed seats.
    """
    now = now or utcnow()
    fixed = seat_mismatches()
    db.session.rollback()
    for mismatch in fixed:
        with _change(mismatch.occurrence_id) as occurrence:
            occurrence.seats_taken = seats_taken(occurrence.id)
            occurrence.seats_over_capacity = max(0, occurrence.seats_taken - occurrence.capacity)
            _audit(
                None,
                "occurrence.seats_fixed",
                occurrence,
                by="seats check",
                before=mismatch.counted,
                after=occurrence.seats_taken,
            )
            promote_waitlist(occurrence, now)
    return fixed


# --- booking ----------------------------------------------------------------


def book(
    occurrence_id: int,
    request: BookingRequest,
    *,
    override_capacity: bool = False,
    actor: User | None = None,
    now: datetime | None = None,
) -> BookingResult:
    """Take a booking, or say why not. Commits.

    ``actor`` is an organiser adding the booking by hand: the booking window
    and the per-booking maximum do not apply to them and no approval is
    needed, but the capacity still does unless they explicitly ask for
    ``override_capacity`` (a group squeezed in at the door).

    Returns the existing booking (``created=False``) for a repeated idempotency
    key or an email that already holds a live booking on this occurrence.
    Raises ``BookingClosed``, ``TooManySeats`` or ``OccurrenceFull``; for the public,
    ``TooManyForAddress`` too (booking_limits).
    """
    now = now or utcnow()
    if request.idempotency_key:
        existing = find_by_idempotency_key(request.idempotency_key)
        if existing is not None:
            return BookingResult(existing, created=False)
    seen, asks = None, True
    if actor is None and not override_capacity:
        # A date full at a glance is a 409 from this one read, before anything else is asked;
        # it also counts the address's bookings and tells whether there are questions.
        glance = _at_a_glance(occurrence_id, request, now)
        check_recent(glance.recent)
        seen, asks = glance.occurrence, glance.asks

    try:
        request = _with_checked_answers(
            occurrence_id, request, by_organiser=actor is not None, asks=asks
        )
        if seen is not None:
            booking = _take_while_seats_are_free(seen, request, now)
            if booking is not None:
                return BookingResult(booking, created=True)
        occurrence = lock_occurrence(occurrence_id)
        booking, created = _take(occurrence, request, override_capacity, actor, now)
        if created:
            _commit_keeping_loaded()
        else:
            db.session.rollback()
    except IntegrityError:
        # A concurrent request with the same idempotency key, or the same email,
        # committed first: theirs is the booking.
        db.session.rollback()
        existing = (
            request.idempotency_key and find_by_idempotency_key(request.idempotency_key)
        ) or find_active_booking(occurrence_id, request.email)
        if existing:
            return BookingResult(existing, created=False)
        raise
    except (BookingClosed, TooManySeats, OccurrenceFull):
        # A retry of a booking that was made is answered with that booking, even once
        # the date is full or closed (a new one would be refused by the unique key).
        db.session.rollback()
        existing = request.idempotency_key and find_by_idempotency_key(request.idempotency_key)
        if existing:
            return BookingResult(existing, created=False)
        raise
    except BaseException:
        db.session.rollback()
        raise
    return BookingResult(booking, created=created)


_GLANCE = None


def _glance():
    """The read of ``_at_a_glance``, built once: what the rush path reads of a date and its
    event (its rules, the email's snapshot, the audit entry), and nothing else (the widest
    rows, texts, the venue and the picture, cost most to read and turn into objects), the
    address's count of bookings, and whether the event asks questions."""
    global _GLANCE
    if _GLANCE is None:
        _GLANCE = (
            select(Occurrence)
            .where(Occurrence.id == bindparam("occurrence_id", type_=Integer))
            .options(*_GLANCED)
            .add_columns(
                recent_public_bookings().scalar_subquery(),
                questions.any_asked(Occurrence.event_id),
            )
        )
    return _GLANCE


_GLANCED = (
    load_only(
        Occurrence.event_id,
        Occurrence.venue_id,
        Occurrence.starts_at,
        Occurrence.ends_at,
        Occurrence.status,
        Occurrence.capacity,
        Occurrence.seats_taken,
        Occurrence.waitlist,
        Occurrence.requires_approval,
        Occurrence.max_seats_per_booking,
        Occurrence.booking_opens_at,
        Occurrence.booking_closes_at,
        Occurrence.wheelchair_spaces,
        Occurrence.wheelchair_release_hours,
    ),
    joinedload(Occurrence.event, innerjoin=True)
    .load_only(Event.status, Event.organisation_id, Event.source_url)
    .lazyload(Event.image),
)


@dataclass(frozen=True)
class _Glance:
    occurrence: Occurrence | None  # read without a lock, if the rush path may try it
    recent: int  # the address's public bookings in the last hour (booking_limits)
    asks: bool  # the event asks registration questions


def _at_a_glance(occurrence_id: int, request: BookingRequest, now: datetime) -> _Glance:
    """What a public booking reads first, in one query.

    When the seats asked are not free: no occurrence if there is a waiting list (``_take``
    decides, under the lock), else ``OccurrenceFull``: the 409 of a full date costs this
    one read.
    """
    values = recent_public_bookings_values(request.email, now)
    row = db.session.execute(_glance(), {"occurrence_id": occurrence_id, **values}).first()
    if row is None:
        db.session.rollback()
        raise NotFound(occurrence_id)
    occurrence, recent, asks = row
    if not _may_take_at_once(occurrence, request, now):
        db.session.rollback()
        return _Glance(None, recent, asks)
    if request.seats > seats_free(occurrence):
        waitlist = occurrence.waitlist  # read before the rollback expires it
        db.session.rollback()
        if waitlist:
            return _Glance(None, recent, asks)
        raise OccurrenceFull()
    return _Glance(occurrence, recent, asks)


def _take_while_seats_are_free(
    occurrence: Occurrence, request: BookingRequest, now: datetime
) -> Booking | None:
    """The common case of a rush, in one short transaction. None: nothing was written.

    Someone from the public asks for seats that were free on a date that is open and needs
    no approval (``_at_a_glance`` read it, without a lock). The booking, its email and its
    audit entry are written first, side by side with everyone else's, and the seats are
    taken last by one conditional UPDATE (``_take_seats_at_once``): the occurrence's lock
    is held for that statement and the commit. The same email twice, or a repeated
    idempotency key, is refused by the database's unique indexes (``book`` then returns
    the existing booking). When the seats no longer fit, everything is rolled back and
    ``_take`` decides under the lock (the waiting list), as for any booking: the answer
    is the same, only slower.
    """
    if not request.checked_answers and db.session.get_bind().dialect.name == "postgresql":
        return _book_in_one_statement(occurrence, request, now)
    booking = _new_booking(occurrence, request, BookingStatus.CONFIRMED, now)
    db.session.flush()  # every insert before the lock: it is then held for one statement
    if not _take_seats_at_once(occurrence, request.seats):
        db.session.rollback()
        return None
    _commit_keeping_loaded()
    return booking


def _book_in_one_statement(
    occurrence: Occurrence, request: BookingRequest, now: datetime
) -> Booking | None:
    """``_take_while_seats_are_free`` on PostgreSQL, for a booking without answers.

    The seats, the booking, its email and its audit entry are written by one statement
    (``_one_statement``), then committed: two round trips. The rows are those
    ``_new_booking`` writes, from the same functions.
    """
    booking = Booking(**_booking_fields(occurrence, request, BookingStatus.CONFIRMED, now))
    set_committed_value(booking, "occurrence", occurrence)
    email = booking_email(booking, str(booking.status))
    entry = audit.entry_fields(
        None, "booking.created", booking, **_about(None, booking, _creation(booking, False))
    )
    rows = (
        _row_values(Booking.__table__, "b_", _columns_of(booking), "occurrence_id"),
        _row_values(OutboxMessage.__table__, "m_", email, "booking_id"),
        _row_values(AuditEntry.__table__, "a_", entry, "object_id"),
    )
    values = {"occurrence_id": occurrence.id, "seats": booking.seats, "updated_at": now}
    values.update(rows[0] | rows[1] | rows[2])  # their names never clash: each has its prefix
    row = db.session.execute(_one_statement(*(tuple(r) for r in rows)), values).first()
    if row is None:  # the seats no longer fit (or the date was cancelled): nothing written
        db.session.rollback()
        return None
    booking.id = row.id
    make_transient_to_detached(booking)  # as if read back: the door needs no query
    db.session.add(booking)
    set_committed_value(booking, "occurrence", occurrence)
    set_committed_value(occurrence, "seats_taken", row.seats_taken)
    mark_written()
    _commit_keeping_loaded()
    return booking


_ONE_STATEMENTS: dict[tuple, Select] = {}  # by the columns each part fills


def _insert_from(table, prefix: str, key: str, source, names: tuple[str, ...], returning=True):
    """``INSERT INTO table SELECT :prefix_column..., source.id FROM source`` as a CTE.

    The columns are ``key``, which is ``source``'s id, and those of ``names`` (the
    parameters ``_row_values`` gives, each ``prefix`` + a column's name).
    """
    columns = [table.c[name.removeprefix(prefix)] for name in names]
    selected = select(source.c.id, *(bindparam(f"{prefix}{c.key}", type_=c.type) for c in columns))
    statement = insert(table).from_select([key, *(c.key for c in columns)], selected)
    if returning:
        statement = statement.returning(table.c.id)
    return statement.cte(f"{table.name}_written")


def _row_values(table, prefix: str, values: dict, key: str) -> dict:
    """The parameters ``_insert_from`` names, from a row's ``values`` and its defaults.

    A column left empty (NULL, and no default in the database) is left out: the
    statement then has fewer parameters (under 50, psycopg keeps its parsed form).
    """
    out = {}
    for column in table.c:
        if column.key in ("id", key):
            continue
        if column.key in values:
            value = values[column.key]
        elif column.default is not None and column.default.is_scalar:
            value = column.default.arg
        elif column.default is not None and column.default.is_callable:
            value = column.default.arg(None)
        else:
            value = None
        if value is not None or column.server_default is not None:
            out[f"{prefix}{column.key}"] = value
    return out


def _one_statement(booking: tuple[str, ...], email: tuple[str, ...], entry: tuple[str, ...]):
    """``WITH taken AS (UPDATE occurrence ... RETURNING), b AS (INSERT booking ...), ...``.

    The conditional UPDATE of ``_take_seats_at_once`` comes first, and each INSERT selects
    from the one before it, so that nothing is written when the seats do not fit. Built
    once for each set of columns filled (the parameters named, ``b_``: the booking,
    ``m_``: its email, ``a_``: its audit entry): a handful in all.
    """
    key = (booking, email, entry)
    statement = _ONE_STATEMENTS.get(key)
    if statement is not None:
        return statement
    dates = Occurrence.__table__
    seats = bindparam("seats", type_=Integer)
    taken = (
        update(dates)
        .where(
            dates.c.id == bindparam("occurrence_id", type_=Integer),
            dates.c.status == OccurrenceStatus.SCHEDULED,
            dates.c.seats_taken + seats <= dates.c.capacity,
        )
        .values(seats_taken=dates.c.seats_taken + seats, updated_at=bindparam("updated_at"))
        .returning(dates.c.id, dates.c.seats_taken)
        .cte("taken")
    )
    written = _insert_from(Booking.__table__, "b_", "occurrence_id", taken, booking)
    statement = (
        select(written.c.id, taken.c.seats_taken)
        .select_from(written.join(taken, true()))
        .add_cte(
            _insert_from(OutboxMessage.__table__, "m_", "booking_id", written, email, False),
            _insert_from(AuditEntry.__table__, "a_", "object_id", written, entry, False),
        )
    )
    _ONE_STATEMENTS[key] = statement
    return statement


def _may_take_at_once(occurrence: Occurrence, request: BookingRequest, now: datetime) -> bool:
    """Open, no approval, a number of seats allowed: the rush path may try.

    Never while wheelchair places are held or for a group: those are decided under the
    lock by ``_take``, so the conditional UPDATE never gives an ordinary party a held place.
    """
    if occurrence.requires_approval or _needs_the_lock(occurrence, request, now):
        return False
    try:
        _check_open_and_seats(occurrence, request, by_organiser=False, now=now)
    except (BookingClosed, TooManySeats):
        return False  # _take says so, with the reason
    return True


def _commit_keeping_loaded() -> None:
    """Commit without expiring what was just written: the door shows the new booking
    (reference, token, status) at once, and a crowd's every query counts."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous


def _take(
    occurrence: Occurrence,
    request: BookingRequest,
    override_capacity: bool,
    actor: User | None,
    now: datetime,
) -> tuple[Booking, bool]:
    email = normalise_email(request.email)
    if request.idempotency_key:
        # Seen again under the lock: a retry that waited for the first attempt.
        existing = find_by_idempotency_key(request.idempotency_key)
        if existing is not None:
            return existing, False
    by_organiser = actor is not None or override_capacity
    # Closed, past or full is decided before looking for this email's booking: the
    # answer must not tell whether an address holds one (issue 17).
    _check_open_and_seats(occurrence, request, by_organiser, now)

    free = seats_free(occurrence)
    if free > 0 and occurrence.waitlist and promote_waitlist(occurrence, now):
        # Seats freed and not yet offered go to the queue first.
        free = seats_free(occurrence)
    free = _room(occurrence, free, request.wheelchair, now)
    if (occurrence.requires_approval or request.group is not None) and not by_organiser:
        # Pending requests hold no seats: see "Approvals" in the README.
        status = BookingStatus.PENDING
    elif request.seats <= free or override_capacity:
        status = BookingStatus.CONFIRMED
    elif occurrence.waitlist:
        status = BookingStatus.WAITLISTED
    else:
        raise OccurrenceFull()
    existing = find_active_booking(occurrence.id, email)
    if existing is not None:
        return existing, False
    if status == BookingStatus.CONFIRMED:
        _take_seats(occurrence, request.seats, override_capacity)
    return _new_booking(occurrence, request, status, now, actor, override_capacity), True


def _check_open_and_seats(
    occurrence: Occurrence, request: BookingRequest, by_organiser: bool, now: datetime
) -> None:
    """Raise ``BookingClosed`` or ``TooManySeats`` if this request may not be taken at all."""
    if occurrence.status != OccurrenceStatus.SCHEDULED:
        raise BookingClosed()
    if not by_organiser and not is_booking_open(occurrence, now):
        raise BookingClosed()
    if request.group is not None:
        groups.check(occurrence, request.group)  # instead of the per-booking maximum
    elif request.seats < 1 or (
        not by_organiser and request.seats > occurrence.max_seats_per_booking
    ):
        raise TooManySeats(occurrence.max_seats_per_booking)


def _new_booking(
    occurrence: Occurrence,
    request: BookingRequest,
    status: BookingStatus,
    now: datetime,
    actor: User | None = None,
    override_capacity: bool = False,
) -> Booking:
    """Write the booking, its email and its audit entry (the caller commits)."""
    booking = Booking(**_booking_fields(occurrence, request, status, now))
    booking.occurrence = occurrence
    db.session.add(booking)
    _write_extras(booking, request)
    db.session.flush()
    queue_booking_email(booking, str(status))
    _audit(actor, "booking.created", booking, **_creation(booking, override_capacity))
    return booking


def _booking_fields(
    occurrence: Occurrence, request: BookingRequest, status: BookingStatus, now: datetime
) -> dict:
    """Every column of a new booking but its id; ``_write_extras`` adds a group's."""
    return {
        "occurrence_id": occurrence.id,
        "reference": new_reference(),
        "token": new_token(),
        "name": request.name.strip(),
        "email": normalise_email(request.email),
        "phone": (request.phone or "").strip(),
        "seats": request.seats,
        "status": status,
        "locale": request.locale if request.locale in ("fr", "en") else "fr",
        "source": request.source,
        "idempotency_key": request.idempotency_key or None,
        "note": "",
        "consent_at": now if request.consent else None,
        "created_at": now,
        "updated_at": now,
        "confirmed_at": now if status == BookingStatus.CONFIRMED else None,
        "cancelled_at": None,
        "checked_in_at": None,
        "anonymised_at": None,
        "wheelchair": bool(request.wheelchair),
        "group_name": None,
        "group_type": None,
        "group_children": None,
        "group_adults": None,
    }


def _columns_of(booking: Booking) -> dict:
    """A new booking's columns as given to its constructor (all but the id)."""
    return {c.key: getattr(booking, c.key) for c in Booking.__table__.c if c.key != "id"}


def _creation(booking: Booking, override_capacity: bool) -> dict:
    """The details of a booking's ``booking.created`` audit entry."""
    return {
        "status": booking.status,
        "seats": booking.seats,
        "source": booking.source,
        "override_capacity": override_capacity,
    }


def _with_checked_answers(
    occurrence_id: int, request: BookingRequest, *, by_organiser: bool, asks: bool = True
) -> BookingRequest:
    """The registration answers checked before anything is written (``questions.py``).

    A group's seats are its children and adults, whatever ``seats`` said. ``asks=False``:
    the event is known to ask none, so they are not read.
    """
    asked = questions.occurrence_questions(occurrence_id) if asks else []
    checked = questions.check_answers(asked, request.answers, require=not by_organiser)
    seats = request.group.seats if request.group is not None else request.seats
    return replace(request, checked_answers=checked, seats=seats)


def _needs_the_lock(occurrence: Occurrence, request: BookingRequest, now: datetime) -> bool:
    """Held wheelchair places and group requests are decided under the lock, by ``_take``.

    So is every booking on a date that held places and keeps a waiting list: the clock
    releases those places without a rule running, and ``_take`` offers them to the queue
    before a newcomer, as it does any seat freed outside the rules.
    """
    return (
        request.group is not None
        or holds_places(occurrence, now)
        or (occurrence.waitlist and (occurrence.wheelchair_spaces or 0) > 0)
    )


def _room(occurrence: Occurrence, free: int, wheelchair: bool, now: datetime) -> int:
    """The seats this party may take of the ``free`` ones: held places only for wheelchairs."""
    return room(free, held_left(occurrence, now), wheelchair)


def _write_extras(booking: Booking, request: BookingRequest) -> None:
    """What a booking carries besides its seats: wheelchair, group, answers."""
    booking.wheelchair = bool(request.wheelchair)
    if request.group is not None:
        groups.write(booking, request.group)
    questions.write_answers(booking, request.checked_answers)


# --- one transaction per change ---------------------------------------------


@contextmanager
def _change(occurrence_id: int) -> Iterator[Occurrence]:
    """Lock the occurrence, run the change, commit once; roll back on any error."""
    try:
        yield lock_occurrence(occurrence_id)
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


@contextmanager
def _change_booking(booking_id: int) -> Iterator[tuple[Booking, Occurrence]]:
    """The same, for a change to one booking: read it again under the lock."""
    booking = db.session.get(Booking, booking_id)
    if booking is None:
        db.session.rollback()
        raise NotFound(booking_id)
    with _change(booking.occurrence_id) as occurrence:
        db.session.refresh(booking)
        yield booking, occurrence


def _audit(actor: User | None, action: str, obj: Booking | Occurrence, **details) -> None:
    audit.record(actor, action, obj, **_about(actor, obj, details))


def _about(actor: User | None, obj: Booking | Occurrence, details: dict) -> dict:
    """An audit entry's organisation and details: who acted, and which booking."""
    occurrence = obj.occurrence if isinstance(obj, Booking) else obj
    details.setdefault("by", "organiser" if actor is not None else "attendee")
    if isinstance(obj, Booking):
        details.setdefault("reference", obj.reference)
        details.setdefault("occurrence_id", occurrence.id)
    return {"organisation_id": occurrence.event.organisation_id, **details}


def _end(booking: Booking, status: BookingStatus, now: datetime) -> None:
    if booking.status == BookingStatus.CONFIRMED:
        _free_seats(booking.occurrence, booking.seats)
    booking.status = status
    booking.cancelled_at = now
    drop_reminder(booking)  # no "see you tomorrow" after a cancellation


# --- held wheelchair places (issue 14) -----------------------------------------------


def release_at(occurrence: Occurrence) -> datetime:
    return occurrence.starts_at - timedelta(hours=occurrence.wheelchair_release_hours or 0)


def holds_places(occurrence: Occurrence, now: datetime | None = None) -> bool:
    """Are places held for wheelchair users right now?"""
    now = now or utcnow()
    return (occurrence.wheelchair_spaces or 0) > 0 and now < release_at(occurrence)


def _wheelchair_confirmed():
    return select(func.count(Booking.id)).where(
        Booking.status == BookingStatus.CONFIRMED, Booking.wheelchair.is_(True)
    )


def held_left(occurrence: Occurrence, now: datetime | None = None) -> int:
    """Held places not yet taken (0 once released). One query, only when places are held."""
    if not holds_places(occurrence, now):
        return 0
    taken = db.session.scalar(_wheelchair_confirmed().where(Booking.occurrence_id == occurrence.id))
    return max(occurrence.wheelchair_spaces - (taken or 0), 0)


def held_left_by_occurrence(
    occurrences: Sequence[Occurrence], now: datetime | None = None
) -> dict[int, int]:
    """The same for a list page: one query, and none when no date holds places."""
    now = now or utcnow()
    holding = [o for o in occurrences if holds_places(o, now)]
    if not holding:
        return {}
    rows = db.session.execute(
        select(Booking.occurrence_id, func.count(Booking.id))
        .where(
            Booking.occurrence_id.in_([o.id for o in holding]),
            Booking.status == BookingStatus.CONFIRMED,
            Booking.wheelchair.is_(True),
        )
        .group_by(Booking.occurrence_id)
    )
    taken = dict(rows.all())
    return {o.id: max(o.wheelchair_spaces - int(taken.get(o.id, 0)), 0) for o in holding}


def room(free: int, held: int, wheelchair: bool) -> int:
    """How many seats a party may take, of ``free`` seats of which ``held`` are held.

    A party that did not ask never gets a held place; a wheelchair user's party takes
    one held place (when one is left) and its companions take ordinary seats.
    """
    held = min(max(held, 0), max(free, 0))
    return free - held + (1 if wheelchair and held > 0 else 0)


# --- approvals ---------------------------------------------------------------


def approve(
    booking_id: int,
    *,
    actor: User | None = None,
    override_capacity: bool = False,
    now: datetime | None = None,
) -> Booking:
    """The organiser accepts a pending request: it takes its seats now. Commits.

    Raises ``InvalidTransition`` unless the booking is pending, and
    ``OccurrenceFull`` when its seats no longer fit (unless ``override_capacity``).
    """
    now = now or utcnow()
    with _change_booking(booking_id) as (booking, occurrence):
        if booking.status != BookingStatus.PENDING:
            raise InvalidTransition()
        if occurrence.status != OccurrenceStatus.SCHEDULED:
            raise BookingClosed()
        free = _room(occurrence, seats_free(occurrence), booking.wheelchair, now)
        if booking.seats > free and not override_capacity:
            raise OccurrenceFull()
        _take_seats(occurrence, booking.seats, override_capacity)
        booking.status = BookingStatus.CONFIRMED
        booking.confirmed_at = now
        queue_booking_email(booking, "approved")
        _audit(actor, "booking.approved", booking, override_capacity=override_capacity)
    return booking


def reject(booking_id: int, *, actor: User | None = None, now: datetime | None = None) -> Booking:
    """The organiser declines a pending (or waiting) request. Commits."""
    now = now or utcnow()
    with _change_booking(booking_id) as (booking, occurrence):
        if booking.status not in (BookingStatus.PENDING, BookingStatus.WAITLISTED):
            raise InvalidTransition()
        _end(booking, BookingStatus.REJECTED, now)
        queue_booking_email(booking, "rejected")
        _audit(actor, "booking.rejected", booking)
        promote_waitlist(occurrence, now, actor=actor)
    return booking


# --- cancelling and the waiting list ---------------------------------------


def cancel_by_attendee(booking_id: int, now: datetime | None = None) -> Booking:
    """The attendee cancels from their link, until the organiser's deadline. Commits."""
    now = now or utcnow()
    with _change_booking(booking_id) as (booking, occurrence):
        if not booking.is_active:
            raise InvalidTransition()
        if now >= cancellation_deadline(occurrence):
            raise CancellationClosed()
        _end(booking, BookingStatus.CANCELLED, now)
        queue_booking_email(booking, "cancelled")
        _audit(None, "booking.cancelled", booking, seats=booking.seats)
        promote_waitlist(occurrence, now)
    return booking


def cancel_by_organiser(
    booking_id: int,
    *,
    actor: User | None = None,
    reason: str = "",
    notify: bool = True,
    now: datetime | None = None,
) -> Booking:
    """The organiser cancels someone's booking (no deadline applies). Commits.

    ``notify=False`` writes no email to the holder: their data are about to be
    erased at their request (``privacy.erase``), which the organiser answers directly.
    """
    now = now or utcnow()
    with _change_booking(booking_id) as (booking, occurrence):
        if not booking.is_active:
            raise InvalidTransition()
        _end(booking, BookingStatus.CANCELLED, now)
        if notify:
            queue_booking_email(booking, "cancelled_by_organiser", message=reason)
        _audit(actor, "booking.cancelled", booking, seats=booking.seats, reason=reason)
        promote_waitlist(occurrence, now, actor=actor)
    return booking


def change_seats(
    booking_id: int, seats: int, *, actor: User | None = None, now: datetime | None = None
) -> Booking:
    """Change the number of seats of a live booking. Commits.

    The attendee (``actor=None``) may only reduce, until the cancellation
    deadline; an organiser may also add seats, within the capacity. Seats freed
    go to the waiting list at once.
    Raises ``InvalidSeats``, ``InvalidTransition``, ``CancellationClosed``,
    ``OccurrenceFull``.
    """
    now = now or utcnow()
    if seats < 1:
        raise InvalidSeats()
    with _change_booking(booking_id) as (booking, occurrence):
        if not booking.is_active:
            raise InvalidTransition()
        before = booking.seats
        if seats == before:
            return booking
        if actor is None:
            if seats > before:
                raise InvalidSeats()
            if now >= cancellation_deadline(occurrence):
                raise CancellationClosed()
        if booking.status == BookingStatus.CONFIRMED:
            if seats > before:
                if seats - before > _room(occurrence, seats_free(occurrence), False, now):
                    raise OccurrenceFull()
                _take_seats(occurrence, seats - before)
            else:
                _free_seats(occurrence, before - seats)
        booking.seats = seats
        queue_booking_email(booking, "seats_changed")
        _audit(actor, "booking.seats_changed", booking, before=before, after=seats)
        promote_waitlist(occurrence, now, actor=actor)
    return booking


def set_capacity(
    occurrence_id: int, capacity: int, *, actor: User | None = None, now: datetime | None = None
) -> Occurrence:
    """Raise or lower an occurrence's capacity; seats freed go to the waiting list. Commits.

    A capacity below the seats already confirmed is refused
    (``CapacityBelowBookings``): which booking to drop is the organiser's choice,
    made explicitly with ``cancel_by_organiser`` or ``change_seats``.
    """
    now = now or utcnow()
    if capacity < 0:
        raise CapacityBelowBookings(0)
    with _change(occurrence_id) as occurrence:
        confirmed = occurrence.seats_taken
        if capacity < confirmed:
            raise CapacityBelowBookings(confirmed)
        before = occurrence.capacity
        if capacity != before:
            occurrence.capacity = capacity
            _shrink_allowance(occurrence)
            _audit(actor, "occurrence.capacity_changed", occurrence, before=before, after=capacity)
            promote_waitlist(occurrence, now, actor=actor)
    return occurrence


def cancel_occurrence(
    occurrence_id: int, reason: str, *, actor: User | None = None, now: datetime | None = None
) -> Occurrence:
    """The organiser cancels a date: every live booking ends and its holder is told. Commits.

    SEQUENCE goes up so calendars that hold the date replace it with the
    cancelled version; confirmed attendees get a cancelling ``.ics``.
    """
    now = now or utcnow()
    with _change(occurrence_id) as occurrence:
        if occurrence.status == OccurrenceStatus.CANCELLED:
            raise InvalidTransition()
        occurrence.status = OccurrenceStatus.CANCELLED
        occurrence.cancelled_at = now
        occurrence.cancel_reason = reason or ""
        occurrence.sequence = (occurrence.sequence or 0) + 1
        occurrence.updated_at = now
        live = db.session.scalars(
            select(Booking)
            .where(
                Booking.occurrence_id == occurrence.id,
                Booking.status.in_(ACTIVE_BOOKING_STATUSES),
            )
            .order_by(Booking.id)
        ).all()
        for booking in live:
            _end(booking, BookingStatus.CANCELLED, now)
            queue_booking_email(booking, "occurrence_cancelled", message=reason or "")
        _audit(
            actor,
            "occurrence.cancelled",
            occurrence,
            reason=reason or "",
            bookings_cancelled=len(live),
        )
    return occurrence


def check_in(
    booking_id: int,
    *,
    actor: User | None = None,
    undo: bool = False,
    now: datetime | None = None,
) -> Booking:
    """Mark a confirmed attendee as arrived (or undo a mistaken mark). Commits.

    Checking in twice keeps the first arrival time.
    """
    now = now or utcnow()
    with _change_booking(booking_id) as (booking, _occurrence):
        if booking.status != BookingStatus.CONFIRMED:
            raise InvalidTransition()
        if undo:
            if booking.checked_in_at is not None:
                booking.checked_in_at = None
                _audit(actor, "booking.check_in_undone", booking)
        elif booking.checked_in_at is None:
            booking.checked_in_at = now
            _audit(actor, "booking.checked_in", booking)
    return booking


def resend_booking_link(booking_id: int, now: datetime | None = None) -> bool:
    """Email a live booking's link to its owner again. Commits.

    Used when someone books again with an email that already holds a booking: the
    link goes to that address, never to whoever typed it. At most one such email per
    booking and hour, so the form cannot be used to flood someone's inbox.
    Returns False when nothing was queued.
    """
    now = now or utcnow()
    booking = db.session.get(Booking, booking_id)
    if booking is None or not booking.is_active:
        return False
    # An hour from the last one, not a clock hour: 10:59 and 11:00 are one minute apart.
    last_hour = select(OutboxMessage.id).where(
        OutboxMessage.booking_id == booking.id,
        OutboxMessage.kind == "existing",
        OutboxMessage.created_at > now - timedelta(hours=1),
    )
    if db.session.scalar(last_hour.limit(1)):
        return False
    key = f"existing:{booking.id}:{now:%Y%m%d%H}"  # two requests at the same instant: one
    queue_booking_email(booking, "existing", dedup_key=key)
    try:
        db.session.commit()
    except IntegrityError:  # the same key queued at the same instant by another request
        db.session.rollback()
        return False
    return True


def promote_waitlist(
    occurrence: Occurrence, now: datetime | None = None, *, actor: User | None = None
) -> list[Booking]:
    """Confirm, in order, the waiting people whose seats fit. Caller holds the lock.

    A party too large for the seats free keeps its place in the queue while
    smaller parties behind it are confirmed: seats never stay empty while
    someone who fits is waiting.
    """
    now = now or utcnow()
    db.session.flush()  # the caller's change counts in the seats taken
    if occurrence.status != OccurrenceStatus.SCHEDULED or now >= occurrence.starts_at:
        return []
    free = seats_free(occurrence)
    promoted: list[Booking] = []
    if free <= 0:
        return promoted
    waiting = db.session.scalars(
        select(Booking)
        .where(
            Booking.occurrence_id == occurrence.id,
            Booking.status == BookingStatus.WAITLISTED,
        )
        .order_by(Booking.created_at, Booking.id)
    )
    held = held_left(occurrence, now)
    for booking in waiting:
        if booking.seats <= room(free, held, booking.wheelchair):
            _take_seats(occurrence, booking.seats)
            booking.status = BookingStatus.CONFIRMED
            booking.confirmed_at = now
            free -= booking.seats
            held -= 1 if booking.wheelchair else 0
            promoted.append(booking)
            queue_booking_email(booking, "promoted")
            _audit(actor, "booking.promoted", booking, seats=booking.seats, by="waiting list")
        if free <= 0:
            break
    db.session.flush()
    return promoted


def public_event_query():
    """Events the public may see."""
    return select(Event).where(Event.status == EventStatus.PUBLISHED)


# --- what a person sees at a glance -----------------------------------------

LAST_PLACES = 5


@dataclass(frozen=True)
class Availability:
    seats_left: int
    state: str  # cancelled, past, not_yet_open, closed, full, waitlist, last_places, open
    booking_open: bool
    opens_at: datetime | None = None
    wheelchair_left: int = 0  # held places still free for wheelchair users

    @property
    def can_request(self) -> bool:
        """A form makes sense: a place can be taken or the waiting list joined."""
        return self.state in ("open", "last_places", "waitlist")


def availability(
    occurrence: Occurrence, taken: int, now: datetime | None = None, held: int = 0
) -> Availability:
    """``held``: wheelchair places not yet taken (``held_left``), apart.

    A followed event's date (``sources.py``) shows its state but is booked at its source,
    never here.
    """
    seen = _seen(occurrence, taken, now or utcnow(), held)
    if occurrence.event.source_url and seen.booking_open:
        return replace(seen, booking_open=False)
    return seen


def _seen(occurrence: Occurrence, taken: int, now: datetime, held: int) -> Availability:
    held = min(held, max(occurrence.capacity - taken, 0))
    if held:
        seen = _seen(occurrence, taken + held, now, 0)
        if seen.state == "full":  # full for everyone else; a wheelchair user may still book
            seen = replace(seen, state="last_places", booking_open=True)
        return replace(seen, wheelchair_left=held)
    left = max(occurrence.capacity - taken, 0)
    opens, closes = booking_window(occurrence)
    if occurrence.status == OccurrenceStatus.CANCELLED:
        return Availability(left, "cancelled", False)
    if occurrence.ends_at <= now:
        return Availability(left, "past", False)
    if opens is not None and now < opens:
        return Availability(left, "not_yet_open", False, opens)
    if now >= closes or occurrence.event.status != EventStatus.PUBLISHED:
        return Availability(left, "closed", False)
    if left <= 0 and not occurrence.requires_approval:
        if occurrence.waitlist:
            return Availability(0, "waitlist", True)
        return Availability(0, "full", False)
    if left <= min(LAST_PLACES, max(occurrence.capacity // 5, 1)):
        return Availability(left, "last_places", True)
    return Availability(left, "open", True)

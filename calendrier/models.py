"""The data model. The schema itself comes only from ``migrations/``."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .timeutil import UTCDateTime, utcnow


class EventKind(enum.StrEnum):
    FESTIVAL = "festival"
    VISIT = "visit"
    SCREENING = "screening"
    TRAINING = "training"
    TALK = "talk"
    WORKSHOP = "workshop"


class EventStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class OccurrenceStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class BookingStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


# Where anonymised bookings and emails point (RFC 2606: can never be a real address).
ANONYMOUS_DOMAIN = "anonymised.invalid"

ACTIVE_BOOKING_STATUSES = (
    BookingStatus.PENDING,
    BookingStatus.CONFIRMED,
    BookingStatus.WAITLISTED,
)


class OutboxStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # what it would have said had become untrue: not sent


class Organisation(db.Model):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    website: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    events: Mapped[list[Event]] = relationship(back_populates="organisation")
    users: Mapped[list[User]] = relationship(back_populates="organisation")

    def __repr__(self) -> str:
        return f"<Organisation {self.slug}>"


class User(UserMixin, db.Model):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised when the password changes: every session opened before stops loading
    # (accounts.load_user), on every app server alike, since the cookie names it.
    auth_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")

    def get_id(self) -> str:  # Flask-Login: what the session cookie keeps
        return f"{self.id}:{self.auth_epoch or 0}"

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def can_manage(self, organisation_id: int | None) -> bool:
        return self.is_admin or (
            organisation_id is not None and organisation_id == self.organisation_id
        )


class ApiToken(db.Model):
    """Only a hash of the token is kept: a leaked database leaks no usable token."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class Venue(db.Model):
    __tablename__ = "venue"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    access: Mapped[str] = mapped_column(Text, default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    capacity: Mapped[int | None] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation | None] = relationship()
    # Accessibility codes (domain/accessibility.py), stored " wheelchair hearing_loop ".
    accessibility: Mapped[str] = mapped_column(String(300), default="")

    @property
    def full_address(self) -> str:
        parts = [self.address, " ".join(p for p in (self.postcode, self.city) if p)]
        return ", ".join(p for p in parts if p)


class Event(db.Model):
    __tablename__ = "event"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("event.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), index=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default=EventStatus.PUBLISHED)
    external_uid: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # The English texts, each optional: pages, feeds and emails in English fall back on
    # the French one (domain/languages.py).
    title_en: Mapped[str] = mapped_column(String(200), default="")
    summary_en: Mapped[str] = mapped_column(String(500), default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    # Its picture (poster, still): its files are in picture_file (domain/images.py).
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("picture.id", ondelete="SET NULL"), index=True
    )
    # Loaded with the event, in the same query: lists show every event's picture.
    image: Mapped[Picture | None] = relationship(lazy="joined")
    # A followed event (domain/sources.py): the feed it comes from, and its page there,
    # where people book.
    source_url: Mapped[str | None] = mapped_column(String(500), index=True)
    external_url: Mapped[str | None] = mapped_column(String(500))

    organisation: Mapped[Organisation] = relationship(back_populates="events")
    parent: Mapped[Event | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Event]] = relationship(back_populates="parent")
    occurrences: Mapped[list[Occurrence]] = relationship(
        back_populates="event", order_by="Occurrence.starts_at"
    )
    # Registration questions asked now (domain/questions.py), in order.
    questions: Mapped[list[Question]] = relationship(
        primaryjoin="and_(Question.event_id == Event.id, Question.deleted_at.is_(None))",
        order_by="(Question.position, Question.id)",
        viewonly=True,
    )

    __table_args__ = (
        UniqueConstraint("organisation_id", "external_uid", name="uq_event_external_uid"),
    )

    @property
    def is_public(self) -> bool:
        return self.status == EventStatus.PUBLISHED


class Occurrence(db.Model):
    """One dated, bookable instance of an event."""

    __tablename__ = "occurrence"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venue.id", ondelete="RESTRICT"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    capacity: Mapped[int] = mapped_column(Integer)
    waitlist: Mapped[bool] = mapped_column(Boolean, default=False)
    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    max_seats_per_booking: Mapped[int] = mapped_column(Integer, default=6)
    booking_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    booking_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Attendees may cancel themselves until this many hours before the start.
    cancellation_deadline_hours: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default=OccurrenceStatus.SCHEDULED)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    # iCalendar SEQUENCE: raised on every change that matters to a calendar.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    external_uid: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # When something a calendar shows last changed (not bookings, which bump updated_at):
    # set by domain/calendars.py on flush; it is the feeds' LAST-MODIFIED and DTSTAMP.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Confirmed seats, kept by the booking rules alone (domain/bookings.py) and compared
    # with the bookings by `flask seats check`; seats_over_capacity: seats an organiser
    # explicitly squeezed in beyond the capacity. The CHECK below refuses any overbooking.
    seats_taken: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    seats_over_capacity: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Accessibility (domain/accessibility.py): codes added to the venue's, held places.
    accessibility: Mapped[str] = mapped_column(String(300), default="")
    wheelchair_spaces: Mapped[int] = mapped_column(Integer, default=0)
    wheelchair_release_hours: Mapped[int] = mapped_column(Integer, default=24)
    # Group requests (domain/groups.py).
    groups: Mapped[bool] = mapped_column(Boolean, default=False)
    max_group_size: Mapped[int | None] = mapped_column(Integer)

    event: Mapped[Event] = relationship(back_populates="occurrences")
    venue: Mapped[Venue] = relationship()
    bookings: Mapped[list[Booking]] = relationship(back_populates="occurrence")

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity >= 0", name="capacity_not_negative"),
        CheckConstraint("max_seats_per_booking >= 1", name="max_seats_positive"),
        Index("ix_occurrence_event_starts", "event_id", "starts_at"),
        CheckConstraint(
            "seats_taken >= 0 AND seats_over_capacity >= 0 "
            "AND seats_taken <= capacity + seats_over_capacity",
            name="seats_within_capacity",
        ),
        CheckConstraint("wheelchair_spaces >= 0", name="wheelchair_spaces_not_negative"),
        CheckConstraint("wheelchair_release_hours >= 0", name="wheelchair_release_not_negative"),
    )

    @property
    def is_cancelled(self) -> bool:
        return self.status == OccurrenceStatus.CANCELLED

    @property
    def uid(self) -> str:
        """Stable iCalendar UID: never changes once the occurrence exists."""
        return self.external_uid or f"occurrence-{self.id}@calendrier"


class Booking(db.Model):
    __tablename__ = "booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("occurrence.id", ondelete="CASCADE"), index=True
    )
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    seats: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    source: Mapped[str] = mapped_column(String(20), default="web")
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    note: Mapped[str] = mapped_column(Text, default="")
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "I use a wheelchair": the party takes one held place (domain/accessibility.py).
    wheelchair: Mapped[bool] = mapped_column(Boolean, default=False)
    # A group request (domain/groups.py): seats = children + adults.
    group_name: Mapped[str | None] = mapped_column(String(200))
    group_type: Mapped[str | None] = mapped_column(String(20))
    group_children: Mapped[int | None] = mapped_column(Integer)
    group_adults: Mapped[int | None] = mapped_column(Integer)

    occurrence: Mapped[Occurrence] = relationship(back_populates="bookings")
    answers: Mapped[list[Answer]] = relationship(
        back_populates="booking", order_by="Answer.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("seats >= 1", name="seats_positive"),
        # One live booking per person and occurrence, enforced by the database.
        Index(
            "uq_booking_active_email",
            "occurrence_id",
            "email",
            unique=True,
            sqlite_where=db.text("status IN ('pending', 'confirmed', 'waitlisted')"),
            postgresql_where=db.text("status IN ('pending', 'confirmed', 'waitlisted')"),
        ),
        Index("ix_booking_occurrence_status", "occurrence_id", "status"),
    )

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_BOOKING_STATUSES

    @property
    def is_group(self) -> bool:
        return self.group_type is not None


class QuestionType(enum.StrEnum):
    TEXT = "text"
    TEXTAREA = "textarea"
    CHOICE = "choice"
    MULTIPLE = "multiple"
    CHECKBOX = "checkbox"
    NUMBER = "number"


class Question(db.Model):
    """A registration question of an event (domain/questions.py).

    Removing one that has answers only marks it ``deleted_at``: answers keep
    their own copy of the label, so they stay readable whatever happens to it.
    """

    __tablename__ = "question"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str] = mapped_column(String(300), default="")
    type: Mapped[str] = mapped_column(String(20))
    choices: Mapped[list] = mapped_column(JSON, default=list)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()


class Answer(db.Model):
    """One booking's answer, with the question's label as it was asked."""

    __tablename__ = "answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), index=True
    )
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("question.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(300))
    label_en: Mapped[str] = mapped_column(String(300), default="")
    type: Mapped[str] = mapped_column(String(20))
    value: Mapped[object] = mapped_column(JSON, nullable=True)

    booking: Mapped[Booking] = relationship(back_populates="answers")
    question: Mapped[Question | None] = relationship()


class OutboxMessage(db.Model):
    """An email to send, written in the same transaction as the change it tells of.

    It holds the intent (``kind``, ``booking_id``, ``locale``, ``snapshot``); the mail
    worker renders it when it sends (``domain/outbox.py``).
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    booking_id: Mapped[int | None] = mapped_column(
        ForeignKey("booking.id", ondelete="SET NULL"), index=True
    )
    recipient: Mapped[str] = mapped_column(String(320))
    locale: Mapped[str] = mapped_column(String(8), default="fr", server_default="fr")
    # What the email must state as of the change (status, seats, date, place, message).
    snapshot: Mapped[dict] = mapped_column(JSON, default=dict)
    # Filled when sent (the record of what went out).
    subject: Mapped[str] = mapped_column(String(300), default="")
    # Set only on rows rendered when written (before migration 0010): sent as written.
    body_text: Mapped[str | None] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    ics: Mapped[str | None] = mapped_column(Text)
    ics_method: Mapped[str | None] = mapped_column(String(20))
    # What the check-in QR code in the email opens (attached as a PNG when set).
    check_in_url: Mapped[str | None] = mapped_column(String(500))
    # Makes "never twice" a database guarantee, e.g. "reminder:<booking id>".
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)


class AuditEntry(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisation.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(80))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[dict] = mapped_column(JSON, default=dict)

    user: Mapped[User | None] = relationship()


class FeedTombstone(db.Model):
    """Remembers deletions so a feed's Last-Modified never goes backwards."""

    __tablename__ = "feed_tombstone"

    id: Mapped[int] = mapped_column(primary_key=True)
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[int] = mapped_column(Integer)
    organisation_id: Mapped[int | None] = mapped_column(Integer, index=True)
    venue_id: Mapped[int | None] = mapped_column(Integer, index=True)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


# --- trainings: sittings, attendance, feedback (domain/trainings.py, domain/feedback.py) ---


class Sitting(db.Model):
    """A part of an occurrence (a half-day of a training): attendance is kept per sitting.

    An occurrence without sittings is one sitting, its own start to end.
    """

    __tablename__ = "sitting"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurrence_id: Mapped[int] = mapped_column(
        ForeignKey("occurrence.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)

    occurrence: Mapped[Occurrence] = relationship(
        backref=backref(
            "sittings", order_by="Sitting.position", cascade="all, delete-orphan", lazy="select"
        )
    )

    __table_args__ = (
        UniqueConstraint("occurrence_id", "position", name="uq_sitting_position"),
        CheckConstraint("ends_at > starts_at", name="sitting_ends_after_start"),
        CheckConstraint("position >= 0", name="sitting_position_not_negative"),
    )


class Attendance(db.Model):
    """A booking present at one sitting (``position`` in its occurrence's sittings, from 0)."""

    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(ForeignKey("booking.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    marked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )

    booking: Mapped[Booking] = relationship()

    __table_args__ = (
        UniqueConstraint("booking_id", "position", name="uq_attendance_booking_position"),
        CheckConstraint("position >= 0", name="attendance_position_not_negative"),
    )


class Feedback(db.Model):
    """An attendee's answer after the date: one per booking, which they may change."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("booking.id", ondelete="CASCADE"), unique=True
    )
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    booking: Mapped[Booking] = relationship()

    __table_args__ = (CheckConstraint("rating BETWEEN 1 AND 5", name="rating_one_to_five"),)
class Picture(db.Model):
    """An uploaded picture: what pages need to show it. Its bytes are in ``PictureFile``,
    in the database, so that every app server can serve them without a shared disk."""

    __tablename__ = "picture"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the stored original (metadata stripped): part of every file's URL.
    digest: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    alt: Mapped[str] = mapped_column(String(500), default="")
    alt_en: Mapped[str] = mapped_column(String(500), default="")
    # The widths of the resized copies, e.g. "480 960 1600" (each in WebP and JPEG).
    widths: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    files: Mapped[list[PictureFile]] = relationship(
        back_populates="picture", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        CheckConstraint("width > 0 AND height > 0", name="size_positive"),
    )


class PictureFile(db.Model):
    """One file of a picture: the original, or a resized copy (``960.webp``)."""

    __tablename__ = "picture_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    picture_id: Mapped[int] = mapped_column(ForeignKey("picture.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    content_type: Mapped[str] = mapped_column(String(40))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)

    picture: Mapped[Picture] = relationship(back_populates="files")

    __table_args__ = (UniqueConstraint("picture_id", "name", name="uq_picture_file_name"),)


class SiteSettings(db.Model):
    """The cluster's identity as its admins set it at /manage/settings: one row (id 1).

    An empty text means "the default from the environment" (domain/settings.py).
    ``version`` goes up with every change, so each app server knows when to read it again.
    """

    __tablename__ = "site_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(200), default="")
    tagline: Mapped[str] = mapped_column(String(300), default="")
    accent_colour: Mapped[str] = mapped_column(String(7), default="")
    contact_email: Mapped[str] = mapped_column(String(320), default="")
    legal_notice: Mapped[str] = mapped_column(Text, default="")
    accessibility_statement: Mapped[str] = mapped_column(Text, default="")
    logo_id: Mapped[int | None] = mapped_column(ForeignKey("picture.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    logo: Mapped[Picture | None] = relationship()
class NewsletterSubscriber(db.Model):
    """A person who asked for the monthly letter. Deleted when they unsubscribe."""

    __tablename__ = "newsletter_subscriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    locale: Mapped[str] = mapped_column(String(10), default="fr")
    # The secret of the confirmation and unsubscribe links.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)


class NewsletterIssue(db.Model):
    """One month's letter: the team's introduction, then what was sent (``content``)."""

    __tablename__ = "newsletter_issue"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # YYYY-MM
    introduction: Mapped[str] = mapped_column(Text, default="")
    introduction_en: Mapped[str] = mapped_column(Text, default="")
    # Per language: subject, text and HTML of the email, the archive page's fragment.
    content: Mapped[dict | None] = mapped_column(JSON)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Source(db.Model):
    """An iCalendar feed this agenda follows (another calendrier's, or any calendar's)."""

    __tablename__ = "source"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    organisation_id: Mapped[int] = mapped_column(
        ForeignKey("organisation.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str | None] = mapped_column(String(20))
    # The validators of the last answer, sent back as If-None-Match / If-Modified-Since.
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="new")  # new, ok, failed
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_report: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship()

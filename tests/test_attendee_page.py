"""The attendee's own page: fewer places, cancellation, the deadline; one booking per person."""

import html
import re
from datetime import timedelta

from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import outbox
from calendrier.extensions import db
from calendrier.models import Booking, OutboxMessage
from calendrier.timeutil import utcnow


def book(occurrence, email="ana@example.org", seats=3):
    request = rules.BookingRequest(name="Ana Martin", email=email, seats=seats)
    return rules.book(occurrence.id, request).booking


def form(occurrence, email="ana@example.org", seats=2):
    return {
        "occurrence": occurrence.id,
        "name": "Ana Martin",
        "email": email,
        "seats": seats,
        "consent": "y",
    }


def refreshed(booking):
    db.session.expire_all()
    return db.session.get(Booking, booking.id)


def test_attendee_frees_places_and_the_waiting_list_moves(client, make):
    occurrence = make.occurrence(capacity=3, waitlist=True)
    booking = book(occurrence, seats=3)
    waiting = book(occurrence, "bea@example.org", seats=1)

    page = client.get(f"/bookings/{booking.token}").get_data(as_text=True)
    assert "Réduire mes places" in page
    options = re.findall(r'<option[^>]*value="(\d+)"', page)
    assert options == ["2", "1"]  # only fewer places than now

    response = client.post(
        f"/bookings/{booking.token}/seats", data={"seats": 2}, follow_redirects=True
    )
    assert "Votre réservation compte maintenant 2 places" in response.get_data(as_text=True)
    assert refreshed(booking).seats == 2
    assert refreshed(waiting).status == "confirmed"
    assert rules.seats_taken(occurrence.id) == 3


def test_attendee_cannot_add_places_through_the_form(client, make):
    occurrence = make.occurrence(capacity=10)
    booking = book(occurrence, seats=2)
    response = client.post(f"/bookings/{booking.token}/seats", data={"seats": 5})
    assert response.status_code == 422
    assert refreshed(booking).seats == 2
    assert client.post(f"/bookings/{booking.token}/seats", data={"seats": "x"}).status_code == 422


def test_after_the_deadline_the_page_offers_no_change_and_refuses_one(client, make):
    occurrence = make.occurrence(
        starts_at=utcnow() + timedelta(hours=3), cancellation_deadline_hours=24
    )
    booking = book(occurrence, seats=3)
    page = client.get(f"/bookings/{booking.token}").get_data(as_text=True)
    assert "Réduire mes places" not in page and "Annuler ma réservation" not in page
    assert "contactez l'organisateur" in page.replace("&#39;", "'")

    response = client.post(
        f"/bookings/{booking.token}/seats", data={"seats": 1}, follow_redirects=True
    )
    assert "trop tard" in response.get_data(as_text=True)
    cancelled = client.post(f"/bookings/{booking.token}/cancel", follow_redirects=True)
    assert "trop tard" in cancelled.get_data(as_text=True)
    assert refreshed(booking).seats == 3 and refreshed(booking).status == "confirmed"


def test_unknown_token_is_a_404(client, make):
    assert client.get("/bookings/nope").status_code == 404
    assert client.post("/bookings/nope/seats", data={"seats": 1}).status_code == 404


def test_booking_again_with_the_same_email_never_shows_the_booking_to_whoever_typed_it(
    client, smtp, make
):
    """Knowing someone's email must not open their booking: its link goes to them."""
    occurrence = make.occurrence(capacity=10)
    slug = occurrence.event.slug
    first = client.post(f"/events/{slug}", data=form(occurrence))
    assert first.status_code == 302
    outbox.deliver()
    second = client.post(f"/events/{slug}", data=form(occurrence, "ANA@Example.org", seats=4))
    booking = db.session.scalars(select(Booking)).one()
    assert second.status_code == 303
    assert booking.token not in second.headers["Location"]
    shown = client.get(second.headers["Location"]).get_data(as_text=True)
    assert booking.token not in shown and booking.reference not in shown
    assert "Nous venons de renvoyer son lien" in html.unescape(shown)
    assert booking.seats == 2

    outbox.deliver()
    resent = smtp.messages[-1]
    assert resent["To"] == booking.email
    assert booking.token in resent.get_body(("plain",)).get_content()
    # a third try within the hour sends nothing more: the form cannot flood an inbox
    client.post(f"/events/{slug}", data=form(occurrence, "ana@example.org"))
    assert outbox.deliver().sent == 0


def test_the_same_page_sent_twice_lands_on_its_own_confirmation(client, make):
    occurrence = make.occurrence(capacity=10)
    slug = occurrence.event.slug
    page = client.get(f"/events/{slug}").get_data(as_text=True)
    key = re.search(r'name="submission" type="hidden" value="([^"]+)"', page).group(1)
    data = {**form(occurrence), "submission": key}
    first = client.post(f"/events/{slug}", data=data)
    again = client.post(f"/events/{slug}", data=data)
    booking = db.session.scalars(select(Booking)).one()
    assert first.headers["Location"] == again.headers["Location"]
    assert again.headers["Location"].endswith(f"/bookings/{booking.token}/confirmation")
    assert db.session.scalar(select(func.count(OutboxMessage.id))) == 1


def test_cancelled_occurrence_shows_its_reason_on_the_attendee_page(client, make):
    occurrence = make.occurrence()
    booking = book(occurrence, seats=1)
    rules.cancel_occurrence(occurrence.id, "Le projecteur est en panne.")
    page = client.get(f"/bookings/{booking.token}").get_data(as_text=True)
    assert "Le projecteur est en panne." in page
    assert "Annulée" in page

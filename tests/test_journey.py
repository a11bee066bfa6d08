"""The whole journey through the test client: find, book, email, cancel, attendee list."""

import re

from icalendar import Calendar

from calendrier.domain import outbox


def test_person_books_two_seats_gets_the_email_and_cancels_from_its_link(client, smtp, make):
    occurrence = make.occurrence(capacity=12)
    event = occurrence.event

    home = client.get("/")
    assert event.title in home.get_data(as_text=True)

    page = client.get(f"/events/{event.slug}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "12 places restantes" in html
    assert 'name="consent"' in html

    response = client.post(
        f"/events/{event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "Ana Martin",
            "email": "ana@example.org",
            "seats": 2,
            "phone": "+33 6 12 34 56 78",
            "consent": "y",
        },
    )
    assert response.status_code == 302
    confirmation = client.get(response.headers["Location"])
    text = confirmation.get_data(as_text=True)
    reference = re.search(r'class="reference">([A-Z0-9-]+)<', text).group(1)
    assert "Votre réservation est confirmée" in text

    assert "10 places restantes" in client.get(f"/events/{event.slug}").get_data(as_text=True)

    assert outbox.deliver().sent == 1
    [message] = smtp.messages
    body = message.get_body(("plain",)).get_content()
    assert reference in body
    manage_link = re.search(r"https://agenda\.example\.org(/bookings/\S+)", body).group(1)
    attachment = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    [vevent] = Calendar.from_ical(attachment.get_payload(decode=True)).walk("VEVENT")
    assert str(vevent["summary"]) == event.title

    own_page = client.get(manage_link)
    assert reference in own_page.get_data(as_text=True)
    assert "Confirmée" in own_page.get_data(as_text=True)
    ics = client.get(manage_link + ".ics")
    assert ics.headers["Content-Type"] == "text/calendar; charset=utf-8; method=PUBLISH"

    cancelled = client.post(manage_link + "/cancel", follow_redirects=True)
    assert "Votre réservation est annulée" in cancelled.get_data(as_text=True)
    assert "12 places restantes" in client.get(f"/events/{event.slug}").get_data(as_text=True)
    outbox.deliver()
    assert "annul" in smtp.messages[-1]["Subject"].lower()


def test_organiser_sees_the_attendee_list_of_their_own_occurrences_only(client, make):
    occurrence = make.occurrence(capacity=12)
    organiser = make.user(organisation=occurrence.event.organisation)
    other = make.occurrence()
    client.post(
        f"/events/{occurrence.event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "Ana Martin",
            "email": "ana@example.org",
            "seats": 2,
            "consent": "y",
        },
    )

    assert client.get("/manage/").status_code == 302  # login first
    login = client.post(
        "/manage/login", data={"email": organiser.email, "password": "correct horse battery"}
    )
    assert login.status_code == 302

    listing = client.get("/manage/").get_data(as_text=True)
    assert occurrence.event.title in listing
    assert other.event.title not in listing
    assert "2 / 12" in listing

    attendees = client.get(f"/manage/occurrences/{occurrence.id}").get_data(as_text=True)
    assert "Ana Martin" in attendees and "ana@example.org" in attendees
    assert client.get(f"/manage/occurrences/{other.id}").status_code == 403


def test_wrong_password_is_refused(client, make):
    organiser = make.user()
    response = client.post("/manage/login", data={"email": organiser.email, "password": "nope"})
    assert response.status_code == 401
    assert "mot de passe incorrect" in response.get_data(as_text=True)
    assert client.get("/manage/").status_code == 302


def test_login_never_redirects_off_site(client, make):
    organiser = make.user()
    response = client.post(
        "/manage/login?next=https://evil.example/x",
        data={"email": organiser.email, "password": "correct horse battery"},
    )
    assert response.headers["Location"] == "/manage/"


def test_bad_booking_input_shows_errors_and_writes_nothing(client, make):
    occurrence = make.occurrence(max_seats_per_booking=4)
    response = client.post(
        f"/events/{occurrence.event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "",
            "email": "not-an-email",
            "seats": "-3",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Veuillez corriger les erreurs" in html
    assert "politique de confidentialité pour réserver" in html
    too_many = client.post(
        f"/events/{occurrence.event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "Ana",
            "email": "ana@example.org",
            "seats": 5,
            "consent": "y",
        },
    )
    assert too_many.status_code == 422
    assert "4 places au maximum" in too_many.get_data(as_text=True)
    from calendrier.domain.bookings import seats_taken

    assert seats_taken(occurrence.id) == 0


def test_booking_form_requires_a_csrf_token(app, make):
    app.config["WTF_CSRF_ENABLED"] = True
    occurrence = make.occurrence()
    response = app.test_client().post(
        f"/events/{occurrence.event.slug}",
        data={
            "occurrence": occurrence.id,
            "name": "Ana",
            "email": "ana@example.org",
            "seats": 1,
            "consent": "y",
        },
    )
    assert response.status_code in (400, 422)
    from calendrier.domain.bookings import seats_taken

    assert seats_taken(occurrence.id) == 0


def test_english_on_request(client, make):
    occurrence = make.occurrence(capacity=3)
    html = client.get(f"/events/{occurrence.event.slug}?lang=en").get_data(as_text=True)
    assert "3 places left" in html
    assert "3 places left" in client.get(f"/events/{occurrence.event.slug}").get_data(as_text=True)

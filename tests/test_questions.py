"""Registration questions: asked by the form and the API, checked by one rule, kept."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from calendrier.domain import bookings as rules
from calendrier.domain import catalogue, privacy, questions
from calendrier.domain.errors import InvalidInput
from calendrier.extensions import db
from calendrier.models import Answer, Booking, Question

from .test_api import API, assert_error, person
from .test_api_organisers import bearer, org  # noqa: F401 - fixture


def add_questions(client, world) -> dict[str, int]:
    slug = world.occurrence.event.slug
    url, headers = f"{API}/events/{slug}/questions", bearer(world.token)
    bodies = {
        "employer": {
            "label": "Employeur",
            "label_en": "Employer",
            "type": "text",
            "required": True,
        },
        "funding": {
            "label": "Financement",
            "type": "choice",
            "choices": ["OPCO", "Personnel", "=HYPERLINK(1)"],
            "required": True,
        },
        "diet": {"label": "Régime", "type": "multiple", "choices": ["Végétarien", "Sans gluten"]},
        "parking": {"label": "Parking ?", "type": "checkbox"},
        "age": {"label": "Âge", "type": "number"},
        "notes": {"label": "Remarques", "type": "textarea"},
    }
    ids = {}
    for key, body in bodies.items():
        response = client.post(url, json=body, headers=headers)
        assert response.status_code == 201, response.get_json()
        ids[key] = response.get_json()["id"]
    return ids


def good_answers(ids) -> dict:
    return {
        str(ids["employer"]): "Studio Folimage",
        str(ids["funding"]): "OPCO",
        str(ids["diet"]): ["Sans gluten"],
        str(ids["parking"]): True,
        str(ids["age"]): 34,
    }


def booking_count() -> int:
    return db.session.scalar(select(func.count(Booking.id)))


def test_questions_are_created_listed_in_order_and_refused_when_wrong(client, org):  # noqa: F811
    ids = add_questions(client, org)
    event = client.get(f"{API}/events/{org.occurrence.event.slug}").get_json()
    assert [q["id"] for q in event["questions"]] == list(ids.values())
    funding = event["questions"][1]
    assert funding == {
        "id": ids["funding"],
        "label": "Financement",
        "label_en": "",
        "type": "choice",
        "choices": ["OPCO", "Personnel", "=HYPERLINK(1)"],
        "required": True,
    }
    url = f"{API}/events/{org.occurrence.event.slug}/questions"
    headers = bearer(org.token)
    for body, field in (
        ({"label": "Q", "type": "colour"}, "type"),
        ({"label": "", "type": "text"}, "label"),
        ({"label": "Q", "type": "choice"}, "choices"),
        ({"label": "Q", "type": "choice", "choices": ["a", "a"]}, "choices"),
        ({"label": "Q", "type": "text", "choices": ["a"]}, "choices"),
    ):
        response = client.post(url, json=body, headers=headers)
        assert field in assert_error(response, 422, "unprocessable_entity")["errors"], body
    assert client.post(url, json={"label": "Q", "type": "text"}).status_code == 401
    stranger = client.post(
        url, json={"label": "Q", "type": "text"}, headers=bearer(org.stranger_token)
    )
    assert stranger.status_code == 403


def test_bookings_answer_and_bad_answers_are_422_with_nothing_written(client, org):  # noqa: F811
    ids = add_questions(client, org)
    url = f"{API}/occurrences/{org.occurrence.id}/bookings"
    before = booking_count()
    for answers in (
        {},  # required ones missing
        {**good_answers(ids), str(ids["funding"]): "Bitcoin"},  # not a choice offered
        {**good_answers(ids), str(ids["age"]): "thirty"},  # wrong type
        {**good_answers(ids), str(ids["diet"]): "Sans gluten"},  # not a list
        {**good_answers(ids), str(ids["parking"]): "yes"},
        {**good_answers(ids), "999999": "?"},  # no such question
        {**good_answers(ids), str(ids["employer"]): "   "},
    ):
        response = client.post(url, json=person(answers=answers))
        body = assert_error(response, 422, "unprocessable_entity")
        assert body["errors"]["answers"], answers
    assert booking_count() == before
    assert_error(client.post(url, json=person(answers=["x"])), 422, "unprocessable_entity")

    created = client.post(url, json=person(answers=good_answers(ids)))
    assert created.status_code == 201, created.get_json()
    attendees = client.get(
        f"{API}/occurrences/{org.occurrence.id}/attendees", headers=bearer(org.token)
    ).get_json()
    answers = {a["label"]: a["value"] for a in attendees[0]["answers"]}
    assert answers == {
        "Employeur": "Studio Folimage",
        "Financement": "OPCO",
        "Régime": ["Sans gluten"],
        "Parking ?": True,
        "Âge": 34,
    }


def test_changed_or_removed_questions_keep_their_answers_readable(client, org):  # noqa: F811
    ids = add_questions(client, org)
    url = f"{API}/occurrences/{org.occurrence.id}/bookings"
    assert client.post(url, json=person(answers=good_answers(ids))).status_code == 201
    headers = bearer(org.token)
    changed = client.patch(
        f"{API}/questions/{ids['employer']}", json={"label": "Structure"}, headers=headers
    )
    assert changed.status_code == 200 and changed.get_json()["label"] == "Structure"
    assert client.delete(f"{API}/questions/{ids['funding']}", headers=headers).status_code == 204
    assert client.delete(f"{API}/questions/{ids['notes']}", headers=headers).status_code == 204
    assert db.session.get(Question, ids["funding"]).deleted_at is not None  # answered: kept
    assert db.session.get(Question, ids["notes"]) is None  # never answered: gone
    event = client.get(f"{API}/events/{org.occurrence.event.slug}").get_json()
    assert ids["funding"] not in [q["id"] for q in event["questions"]]
    attendees = client.get(
        f"{API}/occurrences/{org.occurrence.id}/attendees", headers=headers
    ).get_json()
    labels = {a["label"]: a["value"] for a in attendees[0]["answers"]}
    assert labels["Employeur"] == "Studio Folimage"  # as it was asked
    assert labels["Financement"] == "OPCO"


def test_reordering_and_duplicating_keep_the_questions(make):
    occurrence = make.occurrence()
    event = occurrence.event
    a = questions.create_question(event.id, label="A", type="text")
    b = questions.create_question(event.id, label="B", type="number")
    c = questions.create_question(event.id, label="C", type="checkbox", required=True)
    questions.move_question(c.id, -1)
    assert [q.label for q in questions.event_questions(event.id)] == ["A", "C", "B"]
    questions.move_question(a.id, -1)  # already first: nothing moves
    questions.move_question(a.id, +1)
    assert [q.label for q in questions.event_questions(event.id)] == ["C", "A", "B"]
    assert b.id
    copy = catalogue.duplicate_event(event.id, title="Copie", shift_days=7)
    copied = questions.event_questions(copy.id)
    assert [(q.label, q.type, q.required) for q in copied] == [
        ("C", "checkbox", True),
        ("A", "text", False),
        ("B", "number", False),
    ]


def test_purge_and_erasure_take_the_answers_away(make):
    occurrence = make.occurrence()
    question = questions.create_question(occurrence.event_id, label="Employeur", type="text")
    booking = rules.book(
        occurrence.id,
        rules.BookingRequest(
            name="Ana", email="ana@example.org", seats=1, answers={str(question.id): "Folimage"}
        ),
    ).booking
    assert db.session.scalar(select(func.count(Answer.id))) == 1
    privacy.erase("ana@example.org")
    assert db.session.scalar(select(func.count(Answer.id))) == 0
    assert db.session.get(Booking, booking.id).anonymised_at is not None


# --- the booking form -----------------------------------------------------------------


def form_data(occurrence, **extra) -> dict:
    data = {
        "occurrence": occurrence.id,
        "name": "Ana Martin",
        "email": "ana@example.org",
        "seats": 1,
        "consent": "y",
    }
    data.update(extra)
    return data


def test_the_form_asks_the_questions_and_the_same_rule_checks_them(client, make):
    occurrence = make.occurrence()
    event_id = occurrence.event_id
    employer = questions.create_question(
        event_id, label="Employeur", label_en="Employer", type="text", required=True
    )
    funding = questions.create_question(
        event_id, label="Financement", type="choice", choices=["OPCO", "Personnel"], required=True
    )
    diet = questions.create_question(
        event_id, label="Régime", type="multiple", choices=["Végétarien", "Sans gluten"]
    )
    agree = questions.create_question(event_id, label="Photos", type="checkbox", required=True)
    age = questions.create_question(event_id, label="Âge", type="number")
    ids = [q.id for q in (employer, funding, diet, agree, age)]
    slug = occurrence.event.slug

    page = client.get(f"/events/{slug}").get_data(as_text=True)
    for q in ids:
        assert f'name="q_{q}"' in page
    assert "Régime (facultatif)" in page
    english = client.get(f"/events/{slug}?lang=en").get_data(as_text=True)
    assert "Employer" in english
    client.get(f"/events/{slug}?lang=fr")

    bad = client.post(
        f"/events/{slug}",
        data=form_data(occurrence, **{f"q_{funding.id}": "Bitcoin", f"q_{age.id}": "trente"}),
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "Veuillez corriger les erreurs" in html
    assert html.count('class="error"') >= 4  # employer, funding, photos, age
    assert booking_count() == 0

    good = client.post(
        f"/events/{slug}",
        data=form_data(
            occurrence,
            **{
                f"q_{employer.id}": "Folimage",
                f"q_{funding.id}": "OPCO",
                f"q_{diet.id}": ["Végétarien", "Sans gluten"],
                f"q_{agree.id}": "y",
                f"q_{age.id}": "34,5",
            },
        ),
    )
    assert good.status_code == 302, good.get_data(as_text=True)
    booking = db.session.scalar(select(Booking))
    assert {a.label: a.value for a in booking.answers} == {
        "Employeur": "Folimage",
        "Financement": "OPCO",
        "Régime": ["Végétarien", "Sans gluten"],
        "Photos": True,
        "Âge": 34.5,
    }
    own = client.get(f"/bookings/{booking.token}").get_data(as_text=True)
    assert "Folimage" in own and "Végétarien, Sans gluten" in own


def test_answers_show_in_the_attendee_list_and_the_exports_formula_safe(client, make):
    from .test_manage import log_in as login

    occurrence = make.occurrence()
    user = make.user(organisation=occurrence.event.organisation)
    question = questions.create_question(occurrence.event_id, label="Structure", type="text")
    rules.book(
        occurrence.id,
        rules.BookingRequest(
            name="Ana",
            email="ana@example.org",
            seats=1,
            answers={str(question.id): '=HYPERLINK("http://x")'},
        ),
    )
    login(client, user)
    page = client.get(f"/manage/occurrences/{occurrence.id}").get_data(as_text=True)
    assert "Structure" in page and "=HYPERLINK" in page
    csv = client.get(f"/manage/occurrences/{occurrence.id}/attendees.csv").get_data(as_text=True)
    header, row = csv.splitlines()[:2]
    assert "Structure" in header
    assert "'=HYPERLINK" in row


def test_organisers_add_reorder_and_remove_questions_in_their_area(client, make):
    from .test_manage import log_in

    occurrence = make.occurrence()
    event = occurrence.event
    user = make.user(organisation=event.organisation)
    log_in(client, user)
    url = f"/manage/events/{event.id}/questions"
    assert client.get(url).status_code == 200
    refused = client.post(url, data={"label": "Repas", "type": "choice", "choices": ""})
    assert refused.status_code == 422
    for label, kind, choices in (("Employeur", "text", ""), ("Repas", "choice", "Oui\nNon")):
        response = client.post(url, data={"label": label, "type": kind, "choices": choices})
        assert response.status_code == 302, response.get_data(as_text=True)
    first, second = questions.event_questions(event.id)
    assert (second.label, second.choices) == ("Repas", ["Oui", "Non"])
    client.post(f"{url}/{second.id}/move", data={"direction": "up"})
    assert [q.label for q in questions.event_questions(event.id)] == ["Repas", "Employeur"]
    client.post(f"{url}/{first.id}/remove")
    assert [q.label for q in questions.event_questions(event.id)] == ["Repas"]
    stranger = make.user()
    client.get("/manage/logout")
    log_in(client, stranger)
    assert client.get(url).status_code in (403, 404)


def test_an_organiser_adding_a_booking_by_hand_may_leave_required_questions_unanswered(make):
    """The attendee rang up: the organiser writes their name, not their employer. The same
    booking through the public form is refused until the required answer is given."""
    occurrence = make.occurrence(capacity=5)
    questions.create_question(occurrence.event_id, label="Employeur", type="text", required=True)
    organiser = make.user(organisation=occurrence.event.organisation)
    db.session.commit()
    by_hand = rules.BookingRequest(name="Ana", email="ana@example.org", seats=1, source="manage")
    booking = rules.book(occurrence.id, by_hand, actor=organiser).booking
    assert booking.status == "confirmed"
    db.session.expire_all()
    assert db.session.scalars(select(Answer).where(Answer.booking_id == booking.id)).all() == []
    public = rules.BookingRequest(name="Bruno", email="bruno@example.org", seats=1)
    with pytest.raises(InvalidInput) as refused:
        rules.book(occurrence.id, public)
    [message] = refused.value.messages()["answers"]
    assert "Employeur" in message and "obligatoire" in message

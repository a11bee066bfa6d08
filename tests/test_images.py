"""Events' pictures: refused before decoding when they must be, stored in the database with
their resized copies and no metadata, served for a year, shown everywhere an event is."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image
from sqlalchemy import func, select

from calendrier.accounts import issue_api_token
from calendrier.domain import bookings as rules
from calendrier.domain import images, outbox
from calendrier.extensions import db
from calendrier.models import Event, Picture, PictureFile

from .test_manage import log_in


def jpeg(size=(1200, 800), colour="purple", **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", **save)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header announces ``width`` x ``height``: a few bytes that would decode
    to gigabytes (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(
        b"IEND", b""
    )


def with_gps() -> bytes:
    """A phone photo: EXIF with a GPS position (and an orientation)."""
    image = Image.new("RGB", (800, 600), "teal")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotated 90°
    gps = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 7.0)}
    exif[0x8825] = gps
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.fixture
def organiser(make):
    event = make.event(slug="nuit-du-court", title="Nuit du court")
    make.occurrence(event=event)
    user = make.user(organisation=event.organisation)
    token = issue_api_token(user)
    db.session.commit()
    return {"event": event, "user": user, "headers": {"Authorization": f"Bearer {token}"}}


def multipart(fields: dict[str, str], file: bytes | None) -> tuple[bytes, str]:
    """The body a browser sends (encoded here: the test client spools big ones to a file
    it never closes)."""
    boundary = "----calendrier-test-boundary"
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + value.encode() + b"\r\n")
    if file is not None:
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            'filename="affiche.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
        )
        parts.append(head.encode() + file + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def upload(client, organiser, data: bytes | None, alt: str | None = "Une affiche", **extra):
    fields = {"alt": alt} if alt is not None else {}
    fields.update(extra)
    body, content_type = multipart(fields, data)
    return client.post(
        "/api/v1/events/nuit-du-court/image",
        data=body,
        headers=organiser["headers"],
        content_type=content_type,
    )


def stored() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count(Picture.id))),
        db.session.scalar(select(func.count(PictureFile.id))),
    )


def test_a_picture_is_stored_with_its_copies_and_shown_in_the_event_json(client, organiser):
    response = upload(client, organiser, jpeg((2400, 1600)), alt_en="A poster")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["alt"] == "Une affiche" and body["alt_en"] == "A poster"
    assert body["url"].startswith("https://agenda.example.org/images/")
    assert (body["width"], body["height"]) == (1600, 1067)
    # the original and WebP + JPEG at 480, 960 and 1600 pixels wide, all in the database
    names = set(db.session.scalars(select(PictureFile.name)))
    assert names == {"original", *(f"{w}.{x}" for w in (480, 960, 1600) for x in ("webp", "jpg"))}
    event = client.get("/api/v1/events/nuit-du-court").json
    assert event["image"] == body
    assert client.get("/api/v1/events").json[0]["image"] == body


def test_every_kind_of_bad_upload_is_a_422_and_nothing_is_stored(client, organiser):
    too_many_pixels = png_header_only(8000, 6000)  # 48 megapixels, a few hundred bytes
    bomb = png_header_only(30_000, 30_000)  # beyond even Pillow's own limit
    corrupt = jpeg()[:300]
    cases = {
        "not an image": (b"%PDF-1.7 not a picture at all", "file"),
        "a GIF": (b"GIF89a" + b"\x00" * 100, "file"),
        "corrupt": (corrupt, "file"),
        "too large in bytes": (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), "file"),
        "far too large": (b"\xff\xd8\xff" + b"\x00" * (11 * 1024 * 1024), "file"),  # unread
        "too many pixels": (too_many_pixels, "file"),
        "decompression bomb": (bomb, "file"),
        "no file": (None, "file"),
        "empty file": (b"", "file"),
    }
    for name, (data, field) in cases.items():
        response = upload(client, organiser, data)
        assert response.status_code == 422, (name, response.status_code)
        assert field in response.json["errors"], (name, response.json)
    for alt in (None, "", "   "):
        response = upload(client, organiser, jpeg(), alt=alt)
        assert response.status_code == 422, alt
        assert list(response.json["errors"]) == ["alt"]
    response = upload(client, organiser, b"not an image", alt=None)
    assert set(response.json["errors"]) == {"file", "alt"}  # every problem at once
    assert upload(client, organiser, jpeg(), alt="x" * 501).status_code == 422
    assert stored() == (0, 0)
    assert db.session.scalar(select(Event.image_id)) is None


def test_a_phone_photo_loses_its_gps_position_and_stands_upright(client, organiser):
    assert b"PhoneMaker" in with_gps()
    assert upload(client, organiser, with_gps()).status_code == 201
    for file in db.session.scalars(select(PictureFile)):
        assert b"PhoneMaker" not in file.data, file.name
        image = Image.open(io.BytesIO(file.data))
        assert not image.getexif(), file.name
        assert "exif" not in image.info, file.name
    picture = db.session.scalar(select(Picture))
    assert (picture.width, picture.height) == (600, 800)  # turned as the phone meant


def test_the_files_are_served_for_a_year_with_an_etag(client, organiser):
    body = upload(client, organiser, jpeg()).json
    path = body["url"].removeprefix("https://agenda.example.org")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert Image.open(io.BytesIO(response.data)).size == (1200, 800)
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and not again.data
    webp = client.get(path.replace("1200.jpg", "480.webp"))
    assert webp.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(webp.data)).size == (480, 320)
    assert client.get(path.replace("1200.jpg", "9999.jpg")).status_code == 404


def test_a_new_picture_replaces_the_old_and_delete_removes_it(client, organiser):
    first = upload(client, organiser, jpeg(colour="red")).json
    second = upload(client, organiser, jpeg(colour="blue")).json
    assert first["url"] != second["url"]
    assert stored()[0] == 1
    old = first["url"].removeprefix("https://agenda.example.org")
    assert client.get(old).status_code == 404
    response = client.delete("/api/v1/events/nuit-du-court/image", headers=organiser["headers"])
    assert response.status_code == 204
    assert stored() == (0, 0)
    assert client.get("/api/v1/events/nuit-du-court").json["image"] is None
    response = client.delete("/api/v1/events/nuit-du-court/image", headers=organiser["headers"])
    assert response.status_code == 204  # idempotent: no picture, still none


def test_only_the_events_organisers_may_change_its_picture(client, organiser, make):
    stranger = {"headers": {"Authorization": f"Bearer {issue_api_token(make.user())}"}}
    db.session.commit()
    assert upload(client, stranger, jpeg()).status_code == 403
    assert upload(client, {"headers": {}}, jpeg()).status_code == 401
    assert stored() == (0, 0)


def test_pages_feeds_and_emails_show_the_picture(client, organiser, smtp):
    event = organiser["event"]
    # (not through the API: its requests would fix the language of this test's pages)
    images.set_event_image(event.id, jpeg((1600, 900)), alt="Une affiche", alt_en="A film strip")
    name = "960.jpg"
    page = client.get("/events/nuit-du-court").get_data(as_text=True)
    assert 'alt="Une affiche"' in page
    assert 'width="960" height="540"' in page
    assert "srcset=" in page and "sizes=" in page and 'type="image/webp"' in page
    assert '<meta property="og:image" content="https://agenda.example.org/images/' in page
    assert '"image": ["https://agenda.example.org/images/' in page  # JSON-LD
    english = client.get("/events/nuit-du-court?lang=en").get_data(as_text=True)
    assert 'alt="A film strip" lang="en"' not in english  # the page is English already
    assert 'alt="A film strip"' in english
    listing = client.get("/events?lang=fr").get_data(as_text=True)
    assert 'alt="Une affiche"' in listing and 'loading="lazy"' in listing
    home = client.get("/").get_data(as_text=True)
    assert "featured-card" in home and name in home
    feed = client.get("/events/nuit-du-court.ics").get_data(as_text=True).replace("\r\n ", "")
    assert "IMAGE;VALUE=URI;DISPLAY=BADGE:https://agenda.example.org/images/" in feed
    rules.book(event.occurrences[0].id, rules.BookingRequest("Ana", "ana@example.org", seats=1))
    outbox.deliver_all()
    [message] = smtp.messages
    html = message.get_body(("html",)).get_content()
    assert '<img src="https://agenda.example.org/images/' in html
    assert 'alt="Une affiche"' in html


def test_the_organiser_form_takes_a_picture_and_refuses_a_bad_one(client, organiser):
    log_in(client, organiser["user"])
    event_id = organiser["event"].id
    response = client.post(
        f"/manage/events/{event_id}/image",
        data={"file": (io.BytesIO(b"not an image"), "x.jpg"), "alt": "Affiche"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "Ce n&#39;est pas une image JPEG, PNG ou WebP." in response.get_data(as_text=True)
    response = client.post(
        f"/manage/events/{event_id}/image",
        data={"file": (io.BytesIO(jpeg()), "x.jpg"), "alt": ""},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert stored() == (0, 0)
    response = client.post(
        f"/manage/events/{event_id}/image",
        data={"file": (io.BytesIO(jpeg()), "x.jpg"), "alt": "Affiche violette"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    assert db.session.get(Event, event_id).image.alt == "Affiche violette"
    response = client.post(f"/manage/events/{event_id}/image/remove")
    assert response.status_code == 302
    assert stored() == (0, 0)


def test_pillow_refuses_the_bomb_before_decoding_it():
    """The check reads the header only: a bomb costs no memory."""
    with pytest.raises(images.InvalidInput) as refused:
        images.open_checked(png_header_only(50_000, 50_000))
    assert "file" in refused.value.errors

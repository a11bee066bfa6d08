"""Fill a fresh pretix database like ``seed_bench.py`` fills calendrier's (run by pretix's python).

    PRETIX_CONFIG_FILE=… DJANGO_SETTINGS_MODULE=pretix_bench_settings \\
        pretix-venv/bin/python pretix_seed.py CAPACITY SERIES DATES

One organizer ``festival``; one single-date event ``ouverture`` 30 days ahead with one free
product ("Place", 1 per order) on a quota of CAPACITY, the date the booking flow uses; and
SERIES event series ``evenement-N`` sharing DATES dates over the coming year (pretix's
"subevents", calendrier's occurrences), each date with a quota of 10, 20, 40 or 120 places.
Every event is live and public, with pretix's defaults for a new event (``set_defaults``,
as its control panel does), and asks for the email and the attendee's name, as calendrier
asks for a name and an email. Prints one JSON line: slugs and ids the benchmark uses.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import django

django.setup()

from django.db import connection  # noqa: E402
from django_scopes import scopes_disabled  # noqa: E402
from pretix.base.models import Event, Item, Organizer, Quota, SubEvent  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
SHOP_PLUGINS = "pretix.plugins.banktransfer,pretix.plugins.ticketoutputpdf,pretix.plugins.sendmail"


def new_event(organizer: Organizer, slug: str, name: str, starts: datetime, series: bool) -> Event:
    event = Event.objects.create(
        organizer=organizer,
        name={"en": name, "fr": name},
        slug=slug,
        currency="EUR",
        date_from=starts,
        date_to=starts + timedelta(hours=2),
        has_subevents=series,
        live=True,
        is_public=True,
        location={"en": "Grande salle, Valence"},
        plugins=SHOP_PLUGINS,
    )
    event.set_defaults()
    event.settings.timezone = "Europe/Paris"
    event.settings.locales = ["en", "fr"]
    event.settings.locale = "en"
    event.settings.attendee_names_asked = True
    event.settings.attendee_names_required = True
    event.settings.invoice_address_asked = False
    event.settings.show_quota_left = True
    return event


def place(event: Event) -> Item:
    return Item.objects.create(
        event=event,
        name={"en": "Place", "fr": "Place"},
        default_price=Decimal("0.00"),
        admission=True,
        personalized=True,  # the attendee's name is asked
        active=True,
        max_per_order=1,
    )


def main(capacity: int, series_count: int, dates: int) -> None:
    rng = random.Random(12)
    with scopes_disabled():
        organizer = Organizer.objects.create(name="Festival", slug="festival")
        starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
        opening = new_event(organizer, "ouverture", "Soirée ouverture", starts, series=False)
        seat = place(opening)
        quota = Quota.objects.create(event=opening, name="Places", size=capacity)
        quota.items.add(seat)

        today = datetime.now(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
        series = []
        for i in range(series_count):
            event = new_event(organizer, f"evenement-{i}", f"Événement {i}", starts, series=True)
            series.append((event, place(event)))
        subevents = []
        for _ in range(dates):
            event, _item = rng.choice(series)
            start = today + timedelta(
                days=rng.randrange(0, 365), hours=rng.randrange(9, 21), minutes=rng.choice([0, 30])
            )
            subevents.append(
                SubEvent(
                    event=event,
                    name=event.name,
                    date_from=start.astimezone(UTC),
                    date_to=(start + timedelta(minutes=90)).astimezone(UTC),
                    active=True,
                    is_public=True,
                )
            )
        SubEvent.objects.bulk_create(subevents, batch_size=1000)
        items = {event.pk: item for event, item in series}
        quotas = [
            Quota(
                event_id=sub.event_id,
                subevent=sub,
                name="Places",
                size=rng.choice([10, 20, 40, 120]),
            )
            for sub in SubEvent.objects.filter(event__organizer=organizer).order_by("pk")
        ]
        Quota.objects.bulk_create(quotas, batch_size=1000)
        links = [
            Quota.items.through(quota_id=q.pk, item_id=items[q.event_id].pk)
            for q in Quota.objects.filter(event__organizer=organizer, subevent__isnull=False)
        ]
        Quota.items.through.objects.bulk_create(links, batch_size=1000)
        # the date ranges of a series, as pretix keeps them when dates are added in the panel
        for event, _item in series:
            first = event.subevents.order_by("date_from").first()
            last = event.subevents.order_by("-date_from").first()
            if first is not None:
                Event.objects.filter(pk=event.pk).update(
                    date_from=first.date_from, date_to=last.date_to
                )
        first_series = series[0][0]
        sub = first_series.subevents.order_by("date_from").first()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(
        json.dumps(
            {
                "organizer": organizer.slug,
                "event": opening.slug,
                "item": seat.pk,
                "series": first_series.slug,
                "subevent": sub.pk if sub else None,
                "dates": dates + 1,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))

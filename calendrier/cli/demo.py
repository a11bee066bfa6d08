"""``flask seed-demo [--cluster cartoucherie|pole-images]``: a demo programme, and its cluster's
name, colour, logo and pictures.

The programmes themselves are in ``seed.py`` (La Cartoucherie, the default) and
``seed_pole_images.py``; this adds what makes each look like its cluster: the site's settings
and a poster for its main events, drawn by ``pictures.py``, each with its alternative text.
"""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy import select

from ..domain import images
from ..domain.settings import update_settings
from ..extensions import db
from ..models import Event, SiteSettings
from . import pictures, seed, seed_pole_images

CARTOUCHERIE_IDENTITY = {
    "name": "Agenda de La Cartoucherie",
    "tagline": "Festivals, projections, visites et formations du pôle de l'image animée.",
    "accent_colour": "#6b21a8",
    "contact_email": "contact@cartoucherie.example",
    "legal_notice": (
        "Éditeur : La Cartoucherie — pôle de l'image animée, rue de Chabeuil, "
        "26500 Bourg-lès-Valence.\n"
        "Directeur de la publication : le président du pôle.\n"
        "Hébergeur : l'hébergeur du site, dont les coordonnées figurent au contrat."
    ),
}
CARTOUCHERIE_LOGO = ("LC", "#6b21a8")

# slug: (poster title, caption, top, bottom, motif, ink, alt, alt_en)
CARTOUCHERIE_PICTURES = {
    "festival-des-images-animees": (
        "Festival des images animées",
        "Une semaine de courts métrages",
        "#3a0ca3",
        "#f72585",
        "film",
        "#4cc9f0",
        "Affiche du festival : une pellicule de cinéma en travers d'un dégradé violet et rose, "
        "et le titre « Festival des images animées ».",
        "Festival poster: a film strip across a purple and pink gradient, and the title "
        "“Festival des images animées”.",
    ),
    "competition-courts-metrages": (
        "Compétition courts métrages",
        "Huit films en compétition",
        "#240046",
        "#7b2cbf",
        "beams",
        "#ff9e00",
        "Des faisceaux de projecteur orange sur fond violet, sous le titre "
        "« Compétition courts métrages ».",
        "Orange projector beams on purple, under the title “Compétition courts métrages”.",
    ),
    "seance-jeune-public": (
        "Séance jeune public",
        "Pour les 4 à 8 ans",
        "#ff5d8f",
        "#ffd166",
        "bubbles",
        "#06d6a0",
        "Des bulles colorées sur un fond rose et jaune : l'affiche de la séance jeune public.",
        "Colourful bubbles on pink and yellow: the poster of the children's screening.",
    ),
    "visite-guidee-du-site": (
        "Visite guidée du site",
        "De la cartoucherie aux studios",
        "#14213d",
        "#fca311",
        "hills",
        "#3d405b",
        "Silhouettes de collines drômoises au coucher du soleil, et le titre "
        "« Visite guidée du site ».",
        "Silhouettes of the Drôme hills at sunset, and the title “Visite guidée du site”.",
    ),
    "formation-storyboard": (
        "Du scénario au storyboard",
        "Formation professionnelle · 5 jours",
        "#1b4332",
        "#40916c",
        "storyboard",
        "#ffb703",
        "Six cases de storyboard dessinées en blanc sur fond vert, pour la formation "
        "« Du scénario au storyboard ».",
        "Six storyboard frames drawn in white on green, for the training "
        "“Du scénario au storyboard”.",
    ),
}
CARTOUCHERIE_ENGLISH = {
    "festival-des-images-animees": (
        "Animated Images Festival",
        "A week of short films, virtual reality and meetings.",
    ),
    "visite-guidee-du-site": (
        "Guided tour of the site",
        "From the old cartridge factory to the studios: 90 minutes through the site's history.",
    ),
}

CLUSTERS = ("cartoucherie", "pole-images")


def _add_pictures(specs: dict[str, tuple]) -> None:
    """Each named event gets its poster, once (added to the session, not committed)."""
    for slug, (title, caption, top, bottom, motif, ink, alt, alt_en) in specs.items():
        event = db.session.scalar(select(Event).where(Event.slug == slug))
        if event is None or event.image is not None:
            continue
        data = pictures.poster(title, caption, top=top, bottom=bottom, motif=motif, ink=ink)
        event.image = images.new_picture(data, alt, alt_en)


def _identity(values: dict[str, str], logo: tuple[str, str]) -> None:
    """The cluster's settings, unless an admin has already set them."""
    if db.session.get(SiteSettings, 1) is not None:
        return
    update_settings(logo=pictures.logo(*logo), **values)


@click.command("seed-demo")
@click.option(
    "--cluster",
    type=click.Choice(CLUSTERS),
    default="cartoucherie",
    show_default=True,
    help="Which cluster's demo: La Cartoucherie, or the Pôle Images Nord-Pas-de-Calais.",
)
@click.pass_context
def seed_demo(ctx: click.Context, cluster: str) -> None:
    """Load a demo programme, with its cluster's name, colour and pictures (idempotent)."""
    if cluster == "cartoucherie":
        ctx.invoke(seed.seed_demo)
        for slug, (title_en, summary_en) in CARTOUCHERIE_ENGLISH.items():
            event = db.session.scalar(select(Event).where(Event.slug == slug))
            if event is not None and not event.title_en:
                event.title_en, event.summary_en = title_en, summary_en
        _add_pictures(CARTOUCHERIE_PICTURES)
        db.session.commit()
        _identity(CARTOUCHERIE_IDENTITY, CARTOUCHERIE_LOGO)
        return
    if seed_pole_images.already_loaded():
        click.echo("The demo programme of the Pôle Images is already loaded.")
        return
    passwords = seed_pole_images.build_programme(date.today())  # noqa: DTZ011 - a local day
    db.session.flush()
    _add_pictures(seed_pole_images.PICTURES)
    db.session.commit()
    _identity(seed_pole_images.IDENTITY, seed_pole_images.LOGO)
    click.echo("Demo programme of the Pôle Images loaded.")
    click.echo("Organiser accounts (passwords shown once):")
    for email, password in passwords.items():
        click.echo(f"  {email}  {password}")

"""The second demo: the Pôle Images Nord-Pas-de-Calais (Tourcoing, Roubaix, Valenciennes).

Another cluster, another trade (games, web documentaries, series), another name and colour:
``flask seed-demo --cluster pole-images``.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import EventKind, Organisation, User
from .seed import Builder, next_weekday

SLUG = "pole-images"

IDENTITY = {
    "name": "Agenda du Pôle Images Nord-Pas-de-Calais",
    "tagline": "Jeu vidéo, webdocs, séries animées : les rendez-vous de l'image en région.",
    "accent_colour": "#0057b8",
    "contact_email": "contact@pole-images.example",
    "legal_notice": (
        "Éditeur : Pôle Images Nord-Pas-de-Calais, association loi 1901, "
        "99A boulevard Descat, 59200 Tourcoing.\n"
        "Directrice de la publication : la présidente de l'association.\n"
        "Hébergeur : l'hébergeur du site, dont les coordonnées figurent au contrat."
    ),
}
LOGO = ("PI", "#0057b8")

ORGANISATIONS = [
    (SLUG, "Pôle Images Nord-Pas-de-Calais", "Le pôle régional de l'image et du numérique."),
    (
        "ecole-studio",
        "École-studio de Valenciennes",
        "Une école où les étudiants apprennent en produisant : jeu vidéo, animation 3D.",
    ),
    (
        "plaine-images",
        "Plaine Images",
        "Le site des industries créatives de Tourcoing : studios, incubateur, laboratoires.",
    ),
    (
        "condition-publique",
        "La Condition Publique",
        "Laboratoire créatif de Roubaix, dans une ancienne usine de conditionnement de laine.",
    ),
]

VENUES = [
    # slug, name, address, postcode, city, lat, lon, capacity, access
    (
        "plaine-images-imaginarium",
        "Imaginarium — Plaine Images",
        "99A boulevard Descat",
        "59200",
        "Tourcoing",
        50.7036,
        3.1710,
        200,
        "Métro ligne 2, arrêt Bourgogne. Accès de plain-pied, ascenseur vers l'auditorium.",
    ),
    (
        "plaine-images-salle-formation",
        "Salle de formation — Plaine Images",
        "99A boulevard Descat",
        "59200",
        "Tourcoing",
        50.7037,
        3.1713,
        14,
        "Au premier étage, avec ascenseur.",
    ),
    (
        "condition-publique-halle",
        "La Condition Publique — la halle",
        "14 place Faidherbe",
        "59100",
        "Roubaix",
        50.6833,
        3.1742,
        90,
        "Métro ligne 2, arrêt Épeule-Montesquieu. Boucle magnétique sur demande.",
    ),
    (
        "ecole-studio-campus",
        "École-studio — campus de Valenciennes",
        "2 rue de la Serre numérique",
        "59300",
        "Valenciennes",
        50.3527,
        3.5190,
        40,
        "Tram ligne 1, arrêt Université. Parcours de visite de plain-pied.",
    ),
]

USERS = [
    ("admin@pole-images.example", SLUG, True, "Admin du pôle"),
    ("ecole@pole-images.example", "ecole-studio", False, "Relations écoles"),
    ("plaine@pole-images.example", "plaine-images", False, "Programmation Plaine Images"),
    ("condition@pole-images.example", "condition-publique", False, "Médiation"),
]

# slug: (poster title, caption, top, bottom, motif, ink, alt, alt_en)
PICTURES = {
    "portes-ouvertes-ecole-studio": (
        "Portes ouvertes de l'école-studio",
        "Valenciennes",
        "#1d3557",
        "#457b9d",
        "storyboard",
        "#e63946",
        "Affiche : six cases de storyboard blanches sur fond bleu, et le titre "
        "« Portes ouvertes de l'école-studio ».",
        "Poster: six white storyboard frames on a blue background, and the title "
        "“Portes ouvertes de l'école-studio”.",
    ),
    "serious-game-jam": (
        "Serious Game Jam : 48 heures pour un jeu utile",
        "Plaine Images, Tourcoing",
        "#003049",
        "#0077b6",
        "pixels",
        "#d62828",
        "Affiche : des carrés de couleur en pixels, comme un jeu vidéo, au-dessus du titre "
        "« Serious Game Jam ».",
        "Poster: coloured pixel squares, as in a video game, above the title “Serious Game Jam”.",
    ),
    "cycle-webdoc": (
        "Webdocs : le réel en interactif",
        "La Condition Publique, Roubaix",
        "#2b2d42",
        "#8d99ae",
        "bubbles",
        "#ef233c",
        "Affiche : des cercles entrelacés rouges et blancs sur fond gris, et le titre "
        "« Webdocs : le réel en interactif ».",
        "Poster: interlaced red and white circles on grey, and the title "
        "“Webdocs : le réel en interactif”.",
    ),
    "pitch-pilote-les-terrils": (
        "Pitch : le pilote de « Les Terrils »",
        "Série animée · Tourcoing",
        "#1b263b",
        "#e07a5f",
        "hills",
        "#3d405b",
        "Affiche : trois terrils en silhouettes sombres sous un soleil jaune, au crépuscule.",
        "Poster: three dark slag heaps in silhouette under a yellow sun, at dusk.",
    ),
    "formation-ecriture-transmedia": (
        "Formation : écrire pour le transmédia",
        "3 jours · Plaine Images",
        "#264653",
        "#2a9d8f",
        "beams",
        "#e9c46a",
        "Affiche : des faisceaux de lumière jaune partant d'un projecteur, sur fond vert.",
        "Poster: beams of yellow light from a projector, on a green background.",
    ),
}


def already_loaded() -> bool:
    return db.session.scalar(select(Organisation.id).where(Organisation.slug == SLUG)) is not None


def build_programme(today: date) -> dict[str, str]:
    """The Pôle Images' programme and accounts (added to the session, not committed)."""
    b = Builder(ZoneInfo(current_app.config["TIMEZONE"]))
    b.places(ORGANISATIONS, VENUES)

    # An open day of the studio-school: visits every hour, one Saturday.
    open_day = b.event(
        "ecole-studio",
        "portes-ouvertes-ecole-studio",
        EventKind.VISIT,
        "Journée portes ouvertes de l'école-studio",
        "Visitez les plateaux, rencontrez les étudiants et leurs jeux en cours de production.",
        "Toutes les heures, un groupe part avec deux étudiants : salles de motion capture, "
        "ateliers de jeu vidéo et d'animation 3D, présentation des cursus et de "
        "l'alternance. Parents bienvenus.",
    )
    open_day.title_en = "Studio-school open day"
    open_day.summary_en = "See the stages, meet the students and the games they are making."
    saturday = next_weekday(today, 5) + timedelta(weeks=2)
    for hour in (10, 11, 13, 14, 15, 16):
        b.occurrence(
            open_day, "ecole-studio-campus", saturday, hour, 0, 60, 30, max_seats_per_booking=4
        )

    # A serious-game jam: a weekend, in teams, each application approved.
    jam = b.event(
        "plaine-images",
        "serious-game-jam",
        EventKind.WORKSHOP,
        "Serious Game Jam : 48 heures pour un jeu utile",
        "Développeurs, graphistes, game designers : un week-end pour créer un jeu qui sert.",
        "Le thème est révélé le vendredi soir. Des associations du territoire présentent "
        "leurs besoins ; les équipes ont 48 heures pour en faire un jeu. Repas et nuit sur "
        "place possibles. Inscription individuelle, les équipes se forment sur place.",
    )
    jam.title_en = "Serious Game Jam: 48 hours for a game that matters"
    friday = next_weekday(today, 4) + timedelta(weeks=3)
    b.occurrence(
        jam,
        "plaine-images-imaginarium",
        friday,
        18,
        0,
        48 * 60,
        60,
        requires_approval=True,
        max_seats_per_booking=1,
    )

    # Web documentaries at La Condition Publique: one Thursday a month.
    webdoc = b.event(
        "condition-publique",
        "cycle-webdoc",
        EventKind.SCREENING,
        "Cycle webdoc : le réel en interactif",
        "Un webdocumentaire présenté sur grand écran par son équipe, puis à vous la souris.",
        "Chaque séance montre un webdocumentaire produit en région, joué en direct par "
        "ses auteurs, puis ouvert au public sur des postes en libre accès.",
    )
    thursday = next_weekday(today, 3)
    for month in range(3):
        b.occurrence(
            webdoc,
            "condition-publique-halle",
            thursday + timedelta(weeks=4 * month),
            19,
            0,
            120,
            90,
            waitlist=True,
        )

    # The pitch of an animated-series pilot.
    pitch = b.event(
        SLUG,
        "pitch-pilote-les-terrils",
        EventKind.TALK,
        "Pitch : le pilote de la série animée « Les Terrils »",
        "L'équipe présente le pilote de sa série (26 épisodes de 13 minutes), avant de "
        "chercher un diffuseur.",
        "Projection du pilote, making-of et échange avec la réalisatrice, le producteur et "
        "une chargée de programmes jeunesse. Ouvert au public et aux professionnels.",
    )
    pitch.title_en = "Pitch: the pilot of the animated series “Les Terrils”"
    pitch.summary_en = (
        "The team shows the pilot of its series (26 episodes of 13 minutes), "
        "before looking for a broadcaster."
    )
    tuesday = next_weekday(today, 1) + timedelta(weeks=1)
    b.occurrence(pitch, "plaine-images-imaginarium", tuesday, 18, 30, 90, 120)

    # A three-day training.
    training = b.event(
        SLUG,
        "formation-ecriture-transmedia",
        EventKind.TRAINING,
        "Formation : écrire pour le transmédia",
        "Trois jours pour concevoir un récit qui vit sur l'écran, le web et le terrain.",
        "Formation professionnelle de 21 heures pour auteurs et producteurs : bible "
        "transmédia, parcours d'utilisateur, financement. Chaque candidature est étudiée.",
    )
    monday = next_weekday(today, 0) + timedelta(weeks=4)
    b.occurrence(
        training,
        "plaine-images-salle-formation",
        monday,
        9,
        30,
        2 * 24 * 60 + 8 * 60,
        12,
        requires_approval=True,
        max_seats_per_booking=1,
        cancellation_deadline_hours=72,
    )

    passwords = {}
    for email, org, admin, name in USERS:
        password = secrets.token_urlsafe(12)
        user = User(email=email, organisation=b.orgs[org], is_admin=admin, name=name)
        user.set_password(password)
        db.session.add(user)
        passwords[email] = password
    return passwords

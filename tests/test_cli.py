from sqlalchemy import func, select

from calendrier.accounts import user_for_token
from calendrier.extensions import db
from calendrier.models import Event, Occurrence, User


def test_seed_demo_loads_a_programme_once(runner):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "admin@cartoucherie.example" in first.output
    kinds = set(db.session.scalars(select(Event.kind)))
    assert kinds >= {"festival", "visit", "screening", "training", "talk", "workshop"}
    occurrences = db.session.scalar(select(func.count(Occurrence.id)))
    assert occurrences > 50
    training = db.session.scalar(select(Occurrence).join(Event).where(Event.kind == "training"))
    assert training.requires_approval
    assert (training.ends_at - training.starts_at).days >= 4

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert "admin@cartoucherie.example" not in again.output
    assert db.session.scalar(select(func.count(Occurrence.id))) == occurrences


def test_orgs_and_users_create_and_token(runner):
    assert runner.invoke(args=["orgs", "create", "studio", "--name", "Studio"]).exit_code == 0
    created = runner.invoke(
        args=["users", "create", "Chef@Studio.example", "--organisation", "studio"]
    )
    assert created.exit_code == 0, created.output
    password = created.output.strip().splitlines()[-1].split(": ", 1)[1]
    user = db.session.scalar(select(User).where(User.email == "chef@studio.example"))
    assert user.check_password(password) and user.password_hash != password

    piped = runner.invoke(
        args=[
            "users",
            "create",
            "admin@studio.example",
            "--organisation",
            "studio",
            "--admin",
            "--password-stdin",
        ],
        input="a long passphrase\n",
    )
    assert piped.exit_code == 0 and "shown once" not in piped.output

    token = runner.invoke(args=["users", "token", "chef@studio.example"])
    assert token.exit_code == 0
    assert user_for_token(token.output.strip().splitlines()[-1]).email == "chef@studio.example"


def test_cli_errors_are_clear(runner):
    result = runner.invoke(args=["users", "create", "x@example.org", "--organisation", "nope"])
    assert result.exit_code != 0
    assert "no organisation 'nope'" in result.output


def test_cli_refuses_what_the_organiser_area_refuses(runner):
    runner.invoke(args=["orgs", "create", "studio", "--name", "Studio"])
    short = runner.invoke(
        args=["users", "create", "a@x.example", "--organisation", "studio", "--password-stdin"],
        input="short\n",
    )
    assert short.exit_code != 0 and "password: At least 8 characters." in short.output
    bad = runner.invoke(args=["orgs", "create", "Not A Slug", "--name", "X"])
    assert bad.exit_code != 0 and "slug:" in bad.output

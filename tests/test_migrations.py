from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from calendrier.extensions import db


def test_upgrade_of_an_empty_database_matches_the_models(app):
    """The suite's database was built by ``db upgrade`` alone; it must equal the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []

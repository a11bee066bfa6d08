"""outbox: the intent of each email (kind, language, snapshot), rendered when it is sent

Rendering text, HTML and .ics in the booking's transaction cost every booking several
milliseconds of CPU under the occurrence's lock; the mail worker renders now. Rows already
written keep their rendered text and are sent as written (``body_text`` set); their
language is taken from their booking.

Revision ID: 0010_i12mail
Revises: 0009_i16
Create Date: 2026-12-02 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_i12mail'
down_revision = '0007_i14'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('locale', sa.String(length=8), nullable=False, server_default='fr')
        )
        batch_op.add_column(sa.Column('snapshot', sa.JSON(), nullable=True))
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=True)
    op.execute(
        "UPDATE outbox SET locale = COALESCE("
        "(SELECT booking.locale FROM booking WHERE booking.id = outbox.booking_id), 'fr')"
    )
    op.execute("UPDATE outbox SET snapshot = '{}'")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('snapshot', existing_type=sa.JSON(), nullable=False)


def downgrade():
    # Rows written since hold no rendered text: the older code cannot send them, so the
    # unsent ones are kept as failed, with the reason, rather than sent empty.
    op.execute(
        "UPDATE outbox SET status = 'failed', last_error = 'written by a newer version' "
        "WHERE body_text IS NULL AND status IN ('queued', 'sending')"
    )
    op.execute("UPDATE outbox SET body_text = '' WHERE body_text IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('body_text', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('snapshot')
        batch_op.drop_column('locale')

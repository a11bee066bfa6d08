"""occurrence changed_at: when something a calendar shows last changed

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:05:06.457125

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    # Added nullable, filled from updated_at, then made NOT NULL (works on SQLite and PostgreSQL).
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE occurrence SET changed_at = updated_at")
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.alter_column('changed_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index(batch_op.f('ix_occurrence_changed_at'), ['changed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_occurrence_changed_at'))
        batch_op.drop_column('changed_at')

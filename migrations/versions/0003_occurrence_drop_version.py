"""occurrence: drop the version counter, which nothing read

Every booking wrote it, under the occurrence's lock, for nothing: the feeds have their own
SEQUENCE and changed_at.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 10:35:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.drop_column('version')


def downgrade():
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('version', sa.Integer(), nullable=False, server_default='0')
        )

"""occurrence seats_taken: a seat counter the booking rules keep, checked by the database

A booking in a rush then moves one row with one conditional UPDATE instead of summing the
bookings under a lock; the CHECK makes an overbooking impossible whatever the code does.

Revision ID: 0005_i12perf
Revises: 0004
Create Date: 2026-12-02 00:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_i12perf'
down_revision = '0006_i13'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('seats_taken', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('seats_over_capacity', sa.Integer(), nullable=False, server_default='0')
        )
    op.execute(
        "UPDATE occurrence SET seats_taken = (SELECT COALESCE(SUM(booking.seats), 0) "
        "FROM booking WHERE booking.occurrence_id = occurrence.id "
        "AND booking.status = 'confirmed')"
    )
    op.execute(
        "UPDATE occurrence SET seats_over_capacity = seats_taken - capacity "
        "WHERE seats_taken > capacity"
    )
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f('ck_occurrence_seats_within_capacity'),
            'seats_taken >= 0 AND seats_over_capacity >= 0 '
            'AND seats_taken <= capacity + seats_over_capacity',
        )


def downgrade():
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.drop_constraint('ck_occurrence_seats_within_capacity', type_='check')
        batch_op.drop_column('seats_over_capacity')
        batch_op.drop_column('seats_taken')

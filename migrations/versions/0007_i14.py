"""accessibility codes, held wheelchair places, registration questions, group requests

Revision ID: 0007_i14
Revises: 0009_i16
Create Date: 2026-12-02 00:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_i14'
down_revision = '0009_i16'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('venue', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('accessibility', sa.String(length=300), nullable=False, server_default='')
        )
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('accessibility', sa.String(length=300), nullable=False, server_default='')
        )
        batch_op.add_column(
            sa.Column('wheelchair_spaces', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('wheelchair_release_hours', sa.Integer(), nullable=False, server_default='24')
        )
        batch_op.add_column(
            sa.Column('groups', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('max_group_size', sa.Integer(), nullable=True))
        batch_op.create_check_constraint('wheelchair_spaces_not_negative', 'wheelchair_spaces >= 0')
        batch_op.create_check_constraint(
            'wheelchair_release_not_negative', 'wheelchair_release_hours >= 0'
        )
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('wheelchair', sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column('group_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_type', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('group_children', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('group_adults', sa.Integer(), nullable=True))

    op.create_table(
        'question',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=300), nullable=False),
        sa.Column('label_en', sa.String(length=300), nullable=False),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('choices', sa.JSON(), nullable=False),
        sa.Column('required', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['event_id'], ['event.id'], name=op.f('fk_question_event_id_event'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_question')),
    )
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_question_event_id'), ['event_id'], unique=False)

    op.create_table(
        'answer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('question_id', sa.Integer(), nullable=True),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('label', sa.String(length=300), nullable=False),
        sa.Column('label_en', sa.String(length=300), nullable=False),
        sa.Column('type', sa.String(length=20), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ['booking_id'], ['booking.id'], name=op.f('fk_answer_booking_id_booking'),
            ondelete='CASCADE',
        ),
        sa.ForeignKeyConstraint(
            ['question_id'], ['question.id'], name=op.f('fk_answer_question_id_question'),
            ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_answer')),
    )
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answer_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_answer_question_id'), ['question_id'], unique=False)


def downgrade():
    op.drop_table('answer')
    op.drop_table('question')
    with op.batch_alter_table('booking', schema=None) as batch_op:
        for column in ('group_adults', 'group_children', 'group_type', 'group_name', 'wheelchair'):
            batch_op.drop_column(column)
    with op.batch_alter_table('occurrence', schema=None) as batch_op:
        batch_op.drop_constraint('ck_occurrence_wheelchair_release_not_negative', type_='check')
        batch_op.drop_constraint('ck_occurrence_wheelchair_spaces_not_negative', type_='check')
        for column in (
            'max_group_size', 'groups', 'wheelchair_release_hours', 'wheelchair_spaces',
            'accessibility',
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table('venue', schema=None) as batch_op:
        batch_op.drop_column('accessibility')

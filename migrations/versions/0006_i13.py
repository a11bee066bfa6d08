"""the cluster's identity, event pictures, events in English

Revision ID: 0006_i13
Revises: 0004
Create Date: 2026-12-02 00:05:00

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = '0006_i13'
down_revision = '0008_i15'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'picture',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('alt', sa.String(length=500), nullable=False),
        sa.Column('alt_en', sa.String(length=500), nullable=False),
        sa.Column('widths', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('width > 0 AND height > 0', name=op.f('ck_picture_size_positive')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_picture')),
    )
    with op.batch_alter_table('picture', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_picture_digest'), ['digest'], unique=False)

    op.create_table(
        'picture_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('picture_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ['picture_id'], ['picture.id'],
            name=op.f('fk_picture_file_picture_id_picture'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_picture_file')),
        sa.UniqueConstraint('picture_id', 'name', name='uq_picture_file_name'),
    )

    op.create_table(
        'site_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('tagline', sa.String(length=300), nullable=False),
        sa.Column('accent_colour', sa.String(length=7), nullable=False),
        sa.Column('contact_email', sa.String(length=320), nullable=False),
        sa.Column('legal_notice', sa.Text(), nullable=False),
        sa.Column('accessibility_statement', sa.Text(), nullable=False),
        sa.Column('logo_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['logo_id'], ['picture.id'],
            name=op.f('fk_site_settings_logo_id_picture'), ondelete='SET NULL',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_site_settings')),
    )

    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('title_en', sa.String(length=200), nullable=False, server_default='')
        )
        batch_op.add_column(
            sa.Column('summary_en', sa.String(length=500), nullable=False, server_default='')
        )
        batch_op.add_column(
            sa.Column('description_en', sa.Text(), nullable=False, server_default='')
        )
        batch_op.add_column(sa.Column('image_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_event_image_id'), ['image_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_event_image_id_picture'), 'picture', ['image_id'], ['id'],
            ondelete='SET NULL',
        )
    # The defaults were only there to fill the existing rows; the models set the value.
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.alter_column('title_en', server_default=None)
        batch_op.alter_column('summary_en', server_default=None)
        batch_op.alter_column('description_en', server_default=None)


def downgrade():
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_event_image_id_picture'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_event_image_id'))
        batch_op.drop_column('image_id')
        batch_op.drop_column('description_en')
        batch_op.drop_column('summary_en')
        batch_op.drop_column('title_en')
    op.drop_table('site_settings')
    op.drop_table('picture_file')
    with op.batch_alter_table('picture', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_picture_digest'))
    op.drop_table('picture')

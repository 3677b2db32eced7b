"""the promoter's queue of Hall of Fame entries the PostgreSQL mirror has yet to take

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hof_mirror_queue',
                    sa.Column('genome_hash', sa.String(length=64), nullable=False),
                    sa.Column('queued_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('genome_hash'))
    op.create_index('ix_hof_mirror_queue_queued_at', 'hof_mirror_queue', ['queued_at'])


def downgrade() -> None:
    op.drop_table('hof_mirror_queue')

"""campaigns: a page of the queue reads a partial index of the campaigns not removed, in queue
order (ix_campaigns_listed), in place of one led by removed_at (ix_campaigns_order), which
PostgreSQL could not read in rank order: it sorted every campaign for each page (2.5 ms of its
CPU for a page of 50 out of 2,000; 0.08 ms through the new index)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

LISTED = "removed_at IS NULL"


def upgrade() -> None:
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.drop_index('ix_campaigns_order')
        batch_op.create_index('ix_campaigns_listed', ['rank_key', 'queued_at', 'id'], unique=False,
                              sqlite_where=sa.text(LISTED), postgresql_where=sa.text(LISTED))


def downgrade() -> None:
    with op.batch_alter_table('campaigns') as batch_op:
        batch_op.drop_index('ix_campaigns_listed')
        batch_op.create_index('ix_campaigns_order', ['removed_at', 'rank_key', 'queued_at', 'id'], unique=False)

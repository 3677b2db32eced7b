"""campaign_counts gains a "disabled" row: queued campaigns that are disabled (the status shows them
apart from those waiting to run)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("INSERT INTO campaign_counts (state, n) SELECT 'disabled', COUNT(*) FROM campaigns "
                       "WHERE state = 'queued' AND enabled = :no AND removed_at IS NULL").bindparams(no=False))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM campaign_counts WHERE state = 'disabled'"))

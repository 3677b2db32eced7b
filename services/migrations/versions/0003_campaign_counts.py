"""campaign_counts: campaigns per state, kept with every change (the status no longer counts the queue)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

# frozen here: a migration must not change when the vocabulary does
STATES = ("queued", "running", "completed", "failed")


def upgrade() -> None:
    op.create_table('campaign_counts',
                    sa.Column('state', sa.String(length=16), nullable=False),
                    sa.Column('n', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.PrimaryKeyConstraint('state'))
    for state in STATES:
        op.execute(sa.text("INSERT INTO campaign_counts (state, n) SELECT :s, COUNT(*) FROM campaigns "
                           "WHERE state = :s AND removed_at IS NULL").bindparams(s=state))


def downgrade() -> None:
    op.drop_table('campaign_counts')

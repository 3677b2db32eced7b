"""the promoter's seed registry: the seeds each campaign may promote from

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('seed_registry',
                    sa.Column('campaign_id', sa.String(length=128), nullable=False),
                    sa.Column('seed', sa.BigInteger(), nullable=False),
                    sa.Column('registered_at', sa.Float(), nullable=False),
                    sa.Column('actor', sa.String(length=200), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('campaign_id', 'seed'))


def downgrade() -> None:
    op.drop_table('seed_registry')

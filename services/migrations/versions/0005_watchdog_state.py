"""the watchdog's loop state: where it is in the scheduler's event log, across its restarts

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('watchdog_state',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('value', sa.JSON(), nullable=False),
                    sa.Column('updated_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('watchdog_state')

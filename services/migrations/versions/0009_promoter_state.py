"""the promoter's state across restarts (when it last revalidated the Hall of Fame)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('promoter_state',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('value', sa.JSON(), nullable=False),
                    sa.Column('updated_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))


def downgrade() -> None:
    op.drop_table('promoter_state')

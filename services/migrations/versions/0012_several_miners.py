"""several miners and a standby scheduler: the miners that registered (miners), which miner each
attempt went to (attempts.miner_id) and each run's miner (runs.miner_id), and the leader's lease
(leases)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('miners',
                    sa.Column('miner_id', sa.String(length=200), nullable=False),
                    sa.Column('address', sa.String(length=300), nullable=False),
                    sa.Column('slots', sa.Integer(), nullable=False),
                    sa.Column('registered_at', sa.Float(), nullable=False),
                    sa.Column('seen_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('miner_id'))
    op.create_table('leases',
                    sa.Column('name', sa.String(length=64), nullable=False),
                    sa.Column('holder', sa.String(length=200), nullable=False),
                    sa.Column('epoch', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
                    sa.Column('expires_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('name'))
    # the scheduler leader's lease exists from the start, held by nobody: two schedulers starting
    # together take turns on its row instead of both inserting it
    op.execute(sa.text("INSERT INTO leases (name, holder, epoch, expires_at) VALUES ('scheduler', '', 0, 0)"))
    with op.batch_alter_table('attempts') as batch:
        batch.add_column(sa.Column('miner_id', sa.String(length=200), nullable=False, server_default=''))
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('miner_id', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('miner_id')
    with op.batch_alter_table('attempts') as batch:
        batch.drop_column('miner_id')
    op.drop_table('leases')
    op.drop_table('miners')

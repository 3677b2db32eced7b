"""the promoter's tables (decisions, Hall of Fame entries and their history) and the scheduler's
outbox of completed runs to hand to it

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('promotion_decisions',
                    sa.Column('run_id', sa.String(length=128), nullable=False),
                    sa.Column('campaign_id', sa.String(length=128), nullable=False),
                    sa.Column('outcome', sa.String(length=32), nullable=False),
                    sa.Column('decided_at', sa.Float(), nullable=False),
                    sa.Column('actor', sa.String(length=200), nullable=False),
                    sa.Column('decision', sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint('run_id'))
    op.create_index('ix_promotion_decisions_campaign_id', 'promotion_decisions', ['campaign_id'])
    op.create_index('ix_promotion_decisions_decided_at', 'promotion_decisions', ['decided_at'])
    op.create_table('hof_entries',
                    sa.Column('genome_hash', sa.String(length=64), nullable=False),
                    sa.Column('state', sa.String(length=32), nullable=False),
                    sa.Column('candidate_id', sa.String(length=200), nullable=False),
                    sa.Column('run_id', sa.String(length=128), nullable=False),
                    sa.Column('campaign_id', sa.String(length=128), nullable=False),
                    sa.Column('config_hash', sa.String(length=64), nullable=False),
                    sa.Column('git_sha', sa.String(length=64), nullable=False),
                    sa.Column('snapshot_id', sa.String(length=64), nullable=False),
                    sa.Column('seeds', sa.JSON(), nullable=False),
                    sa.Column('environment', sa.String(length=16), nullable=False),
                    sa.Column('promoted_at', sa.Float(), nullable=False),
                    sa.Column('rule', sa.Text(), nullable=False),
                    sa.Column('metrics', sa.JSON(), nullable=False),
                    sa.Column('artifact_dir', sa.Text(), nullable=False),
                    sa.Column('evidence_runs', sa.JSON(), nullable=False),
                    sa.Column('updated_at', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('genome_hash'))
    op.create_index('ix_hof_entries_state', 'hof_entries', ['state'])
    op.create_index('ix_hof_entries_run_id', 'hof_entries', ['run_id'])
    op.create_table('hof_history',
                    sa.Column('id', _ID, autoincrement=True, nullable=False),
                    sa.Column('genome_hash', sa.String(length=64), nullable=False),
                    sa.Column('at', sa.Float(), nullable=False),
                    sa.Column('actor', sa.String(length=200), nullable=False),
                    sa.Column('from_state', sa.String(length=32), nullable=False),
                    sa.Column('to_state', sa.String(length=32), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.ForeignKeyConstraint(['genome_hash'], ['hof_entries.genome_hash']),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_hof_history_genome_hash', 'hof_history', ['genome_hash'])
    op.create_table('promotion_handoffs',
                    sa.Column('run_id', sa.String(length=128), nullable=False),
                    sa.Column('campaign_id', sa.String(length=128), nullable=False),
                    sa.Column('created_at', sa.Float(), nullable=False),
                    sa.Column('tries', sa.Integer(), nullable=False),
                    sa.Column('next_try_at', sa.Float(), nullable=False),
                    sa.Column('last_error', sa.Text(), nullable=False),
                    sa.PrimaryKeyConstraint('run_id'))
    op.create_index('ix_promotion_handoffs_next_try_at', 'promotion_handoffs', ['next_try_at'])


def downgrade() -> None:
    op.drop_table('promotion_handoffs')
    op.drop_table('hof_history')
    op.drop_table('hof_entries')
    op.drop_table('promotion_decisions')

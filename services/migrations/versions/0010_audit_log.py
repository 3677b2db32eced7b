"""the audit log: one row per call that changes something, refusals included, with its
authenticated principal; and who cancelled or killed a run (runs.ended_by)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
                    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
                    sa.Column('at', sa.Float(), nullable=False),
                    sa.Column('service', sa.String(length=32), nullable=False),
                    sa.Column('principal', sa.String(length=64), nullable=False),
                    sa.Column('role', sa.String(length=16), nullable=False),
                    sa.Column('method', sa.String(length=64), nullable=False),
                    sa.Column('target', sa.String(length=200), nullable=False),
                    sa.Column('reason', sa.Text(), nullable=False),
                    sa.Column('on_behalf_of', sa.String(length=200), nullable=False),
                    sa.Column('outcome', sa.String(length=32), nullable=False),
                    sa.Column('peer', sa.String(length=128), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_index('ix_audit_log_principal', 'audit_log', ['principal'])
    with op.batch_alter_table('runs') as batch:
        batch.add_column(sa.Column('ended_by', sa.String(length=200), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('runs') as batch:
        batch.drop_column('ended_by')
    op.drop_index('ix_audit_log_principal', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')

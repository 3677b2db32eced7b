"""the watchdog's tables: incidents, their timeline, resource samples

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""
from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('incidents',
                    sa.Column('id', _ID, autoincrement=True, nullable=False),
                    sa.Column('severity', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=64), nullable=False),
                    sa.Column('key', sa.String(length=256), nullable=False),
                    sa.Column('open', sa.Boolean(), nullable=False),
                    sa.Column('detected_at', sa.Float(), nullable=False),
                    sa.Column('updated_at', sa.Float(), nullable=False),
                    sa.Column('resolved_at', sa.Float(), nullable=True),
                    sa.Column('summary', sa.Text(), nullable=False),
                    sa.Column('symptoms', sa.JSON(), nullable=False),
                    sa.Column('campaigns', sa.JSON(), nullable=False),
                    sa.Column('runs', sa.JSON(), nullable=False),
                    sa.Column('root_cause', sa.Text(), nullable=False),
                    sa.Column('resolution', sa.Text(), nullable=False),
                    sa.Column('prevention', sa.JSON(), nullable=False),
                    sa.Column('handoffs', sa.JSON(), nullable=False),
                    sa.Column('opened_by', sa.String(length=200), nullable=False),
                    sa.Column('occurrences', sa.Integer(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ux_incidents_open_condition', 'incidents', ['kind', 'key'], unique=True,
                    sqlite_where=sa.text('open = 1'), postgresql_where=sa.text('open = true'))
    op.create_index('ix_incidents_open', 'incidents', ['open', 'id'])
    op.create_table('incident_events',
                    sa.Column('id', _ID, autoincrement=True, nullable=False),
                    sa.Column('incident_id', _ID, nullable=False),
                    sa.Column('at', sa.Float(), nullable=False),
                    sa.Column('actor', sa.String(length=200), nullable=False),
                    sa.Column('event', sa.Text(), nullable=False),
                    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id']),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_incident_events_incident_id', 'incident_events', ['incident_id'])
    op.create_table('resource_samples',
                    sa.Column('id', _ID, autoincrement=True, nullable=False),
                    sa.Column('taken_at', sa.Float(), nullable=False),
                    sa.Column('cpu_util_pct', sa.Float(), nullable=False),
                    sa.Column('mem_available_mb', sa.Float(), nullable=False),
                    sa.Column('disks', sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_resource_samples_taken_at', 'resource_samples', ['taken_at'])


def downgrade() -> None:
    op.drop_table('resource_samples')
    op.drop_table('incident_events')
    op.drop_table('incidents')

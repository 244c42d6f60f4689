"""connectors and partner events

A tenant's connectors (partner systems by name: base URL, credentials encrypted, inbound secrets
encrypted), the events partners send through them, the log of calls processes make to them, and
sessions by reference (how partner events name them).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partner events name a session by its reference.
    op.create_index('ix_sessions_tenant_reference', 'sessions', ['tenant_id', 'reference'], unique=False)
    op.create_table('connectors',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('base_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('auth', sa.JSON(), nullable=False),
    sa.Column('inbound_secret', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('previous_inbound_secret', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('previous_inbound_secret_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('timeout_seconds', sa.Float(), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_connectors_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ux_connectors_tenant_name', ['tenant_id', 'name'], unique=True)

    op.create_table('partner_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('connector_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reference', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('delivered', sa.Boolean(), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('partner_events', schema=None) as batch_op:
        batch_op.create_index('ix_partner_events_connector', ['tenant_id', 'connector_id', 'id'], unique=False)
        batch_op.create_index('ux_partner_events_message', ['connector_id', 'message_id'], unique=True)

    op.create_table('partner_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('connector', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('step', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('idempotency_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('method', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('response_excerpt', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('partner_calls', schema=None) as batch_op:
        batch_op.create_index('ix_partner_calls_session', ['tenant_id', 'session_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sessions_tenant_reference', table_name='sessions')
    # Partner events and the call log go with the tables: they exist only for connectors.
    with op.batch_alter_table('partner_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_partner_calls_session')

    op.drop_table('partner_calls')
    with op.batch_alter_table('partner_events', schema=None) as batch_op:
        batch_op.drop_index('ux_partner_events_message')
        batch_op.drop_index('ix_partner_events_connector')

    op.drop_table('partner_events')
    with op.batch_alter_table('connectors', schema=None) as batch_op:
        batch_op.drop_index('ux_connectors_tenant_name')
        batch_op.drop_index(batch_op.f('ix_connectors_tenant_id'))

    op.drop_table('connectors')

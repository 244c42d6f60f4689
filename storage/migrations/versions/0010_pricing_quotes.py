"""pricing quotes, and the new scopes for keys that had every scope

Carriers' prices as pricing requests returned them, kept to reconcile shipments against them. Keys
that held every scope but admin (what a new key gets) get the scopes added since: connectors:read,
connectors:write and logistics:write.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 13:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


api_keys = sa.table('api_keys', sa.column('id', sa.String), sa.column('scopes', sa.JSON))
BEFORE = {
    'sessions:read', 'sessions:write', 'processes:read', 'processes:write', 'events:read', 'events:write',
    'webhooks:read', 'webhooks:write', 'push:read', 'push:write', 'network:read', 'network:write',
    'options:read', 'options:write', 'orders:read', 'orders:write',
}
ADDED = ['connectors:read', 'connectors:write', 'logistics:write']


def _rescope(change) -> None:
    conn = op.get_bind()
    for key_id, scopes in conn.execute(sa.select(api_keys.c.id, api_keys.c.scopes)).all():
        new = change(list(scopes or []))
        if new != list(scopes or []):
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(scopes=new))


def upgrade() -> None:
    _rescope(lambda scopes: scopes + [s for s in ADDED if s not in scopes] if BEFORE <= set(scopes) else scopes)
    op.create_table('pricing_quotes',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('service_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('rate_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('amount', sa.Float(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('eta_days', sa.Integer(), nullable=False),
    sa.Column('request', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_quotes_tenant_created', 'pricing_quotes', ['tenant_id', 'created_at'], unique=False)


def downgrade() -> None:
    _rescope(lambda scopes: [s for s in scopes if s not in ADDED])
    op.drop_index('ix_quotes_tenant_created', table_name='pricing_quotes')
    op.drop_table('pricing_quotes')

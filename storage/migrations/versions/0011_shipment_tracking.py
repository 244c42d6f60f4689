"""shipment tracking numbers, connectors' adapters, and logistics:read for keys that could write
logistics

A carrier event that names only its tracking number finds its outbound (or its fulfillment's order)
through this table. A webhook's progress per subject counts its recoveries, so a delivery in flight
when one rewinds it cannot move it past the rewind. A connector may name the installed adapter that translates its partner's API. Keys
that held logistics:write get logistics:read, which the outbound reads now need.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 14:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


api_keys = sa.table('api_keys', sa.column('id', sa.String), sa.column('scopes', sa.JSON))


def _rescope(change) -> None:
    conn = op.get_bind()
    for key_id, scopes in conn.execute(sa.select(api_keys.c.id, api_keys.c.scopes)).all():
        new = change(list(scopes or []))
        if new != list(scopes or []):
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(scopes=new))


def upgrade() -> None:
    _rescope(lambda s: s + ['logistics:read'] if 'logistics:write' in s and 'logistics:read' not in s else s)
    op.add_column('connectors', sa.Column('adapter', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
    op.add_column('webhook_progress', sa.Column('rewinds', sa.Integer(), server_default='0', nullable=False))
    op.create_table('shipment_tracking',
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('connector_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tracking_number', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('fulfillment_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'connector_id', 'tracking_number')
    )


def downgrade() -> None:
    _rescope(lambda s: [x for x in s if x != 'logistics:read'])
    op.drop_table('shipment_tracking')
    with op.batch_alter_table('connectors') as batch:
        batch.drop_column('adapter')
    with op.batch_alter_table('webhook_progress') as batch:
        batch.drop_column('rewinds')

"""reservations: stock routed fulfillments hold, and each inventory position's committed total

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-28 15:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('inventory_positions', sa.Column('committed', sa.Integer(), server_default='0', nullable=False))
    op.create_table('reservations',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('location_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('sku_ref', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('owner_kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('owner_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('order_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_reservations_position', 'reservations', ['tenant_id', 'location_ref', 'sku_ref'], unique=False)
    op.create_index('ix_reservations_owner', 'reservations', ['tenant_id', 'owner_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reservations_owner', table_name='reservations')
    op.drop_index('ix_reservations_position', table_name='reservations')
    op.drop_table('reservations')
    with op.batch_alter_table('inventory_positions') as batch:
        batch.drop_column('committed')

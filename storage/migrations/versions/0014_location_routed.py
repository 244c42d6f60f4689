"""locations.routed: fulfillments routed to a location since its last PUT, counted in capacityUsed

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 17:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('locations', sa.Column('routed', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('locations') as batch:
        batch.drop_column('routed')

"""change proposals: a session's proposed changes and their decisions

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 16:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('change_proposals',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('cart_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_change_proposals_cart', 'change_proposals', ['tenant_id', 'cart_id', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_change_proposals_cart', table_name='change_proposals')
    op.drop_table('change_proposals')

"""order claim time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 13:12:12.324155
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('order_claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('order_claims', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')


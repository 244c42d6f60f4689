"""live feed

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:48:58.273439
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('live_feed_subscriptions',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('replica', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('connection', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('filters', sa.JSON(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('live_feed_subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_feed_subscriptions_tenant', ['tenant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_live_feed_subscriptions_replica'), ['replica'], unique=False)

    op.create_table('live_feed_tickets',
    sa.Column('ticket_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('key_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('scopes', sa.JSON(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('ticket_hash')
    )


def downgrade() -> None:
    op.drop_table('live_feed_tickets')
    with op.batch_alter_table('live_feed_subscriptions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_live_feed_subscriptions_replica'))
        batch_op.drop_index('ix_feed_subscriptions_tenant')

    op.drop_table('live_feed_subscriptions')

"""event log and webhooks

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:42:27.467774
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import sqlite

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('events',
    sa.Column('cursor', sa.Integer(), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('cursor'),
    sa.UniqueConstraint('id')
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_tenant_cursor', ['tenant_id', 'cursor'], unique=False)
        batch_op.create_index('ix_events_tenant_occurred', ['tenant_id', 'occurred_at'], unique=False)
        batch_op.create_index('ux_events_subject_sequence', ['tenant_id', 'subject', 'sequence'], unique=True)

    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('webhook_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('event_type', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('response_excerpt', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_attempts_webhook', ['tenant_id', 'webhook_id', 'id'], unique=False)

    op.create_table('webhook_progress',
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('webhook_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('last_sequence', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'webhook_id', 'subject')
    )
    op.create_table('webhooks',
    sa.Column('tenant_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('secret', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('previous_secret', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('previous_secret_expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('disabled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('failing_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('start_cursor', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'id')
    )
    _revisions_to_events()
    with op.batch_alter_table('session_revisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_revisions_tenant_cart'))

    op.drop_table('session_revisions')


def _revisions_to_events() -> None:
    """The revision trail moves into the event log: each stored revision becomes its event."""
    import hashlib

    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT r.tenant_id, r.session_id, r.revision, r.cart_id, r.action, r.from_state, r.to_state, r.actor,"
        " r.comment, r.data, r.at, s.reference, s.process_type, s.process_version, s.status, s.allowed_actions,"
        " s.terminal FROM session_revisions r JOIN sessions s ON s.tenant_id = r.tenant_id AND s.id = r.session_id"
        " ORDER BY r.at, r.session_id, r.revision"
    )).mappings().all()
    events = sa.table(
        "events", sa.column("id"), sa.column("tenant_id"), sa.column("type"), sa.column("subject"),
        sa.column("sequence"), sa.column("occurred_at"), sa.column("data", sa.JSON),
    )
    for r in rows:
        seq = r["revision"] + 1
        digest = hashlib.sha256(f"{r['tenant_id']}\x00{r['session_id']}\x00{seq}".encode()).hexdigest()[:26]
        data = r["data"] if isinstance(r["data"], dict) else __import__("json").loads(r["data"] or "{}")
        allowed = r["allowed_actions"]
        allowed = allowed if isinstance(allowed, list) else __import__("json").loads(allowed or "[]")
        conn.execute(events.insert().values(
            id="evt_" + digest, tenant_id=r["tenant_id"], subject=r["session_id"], sequence=seq,
            type="session.created" if r["revision"] == 0 else "session.status_changed",
            occurred_at=r["at"],
            data={
                "sessionId": r["session_id"], "cartId": r["cart_id"], "reference": r["reference"],
                "processType": r["process_type"], "processVersion": r["process_version"],
                "revision": r["revision"], "action": r["action"], "from": r["from_state"], "to": r["to_state"],
                # the state after this change is only known for the latest revision; older ones take `to`
                "status": r["to_state"], "allowedActions": allowed if r["to_state"] == r["status"] else [],
                "terminal": bool(r["terminal"]) and r["to_state"] == r["status"],
                "actor": r["actor"], "comment": r["comment"], "data": data,
            },
        ))


def downgrade() -> None:
    op.create_table('session_revisions',
    sa.Column('tenant_id', sa.VARCHAR(length=64), nullable=False),
    sa.Column('session_id', sa.VARCHAR(length=64), nullable=False),
    sa.Column('revision', sa.INTEGER(), nullable=False),
    sa.Column('cart_id', sa.VARCHAR(length=200), nullable=False),
    sa.Column('action', sa.VARCHAR(length=100), nullable=False),
    sa.Column('from_state', sa.VARCHAR(length=100), nullable=True),
    sa.Column('to_state', sa.VARCHAR(length=100), nullable=False),
    sa.Column('actor', sa.VARCHAR(length=200), nullable=False),
    sa.Column('comment', sa.VARCHAR(), nullable=True),
    sa.Column('data', sqlite.JSON(), nullable=False),
    sa.Column('at', sa.DATETIME(), nullable=False),
    sa.PrimaryKeyConstraint('tenant_id', 'session_id', 'revision')
    )
    with op.batch_alter_table('session_revisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_revisions_tenant_cart'), ['tenant_id', 'cart_id', 'at'], unique=False)

    op.drop_table('webhooks')
    op.drop_table('webhook_progress')
    with op.batch_alter_table('webhook_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_attempts_webhook')

    op.drop_table('webhook_attempts')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ux_events_subject_sequence')
        batch_op.drop_index('ix_events_tenant_occurred')
        batch_op.drop_index('ix_events_tenant_cursor')

    op.drop_table('events')

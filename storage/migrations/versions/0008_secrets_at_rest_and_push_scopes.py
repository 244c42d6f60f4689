"""secrets at rest and push scopes

Webhook secrets are stored encrypted (`fernet:<token>`, longer than the plaintext), so their columns
widen. Existing values stay as they are: a migration does not know the key; `fulfillment api` encrypts
them at start and `fulfillment secrets rotate` does too.

Push endpoints get their own scopes, `push:read` and `push:write`, where `webhooks:read` and
`webhooks:write` used to admit them: keys that had those keep their push access.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

api_keys = sa.table('api_keys', sa.column('id', sa.String), sa.column('scopes', sa.JSON))
GRANTS = {'webhooks:read': 'push:read', 'webhooks:write': 'push:write'}


def _rescope(change) -> None:
    conn = op.get_bind()
    for key_id, scopes in conn.execute(sa.select(api_keys.c.id, api_keys.c.scopes)).all():
        new = change(list(scopes or []))
        if new != list(scopes or []):
            conn.execute(api_keys.update().where(api_keys.c.id == key_id).values(scopes=new))


def upgrade() -> None:
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column('secret', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=500), existing_nullable=False)
        batch_op.alter_column('previous_secret', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=500), existing_nullable=True)
    _rescope(lambda scopes: scopes + [GRANTS[s] for s in scopes if s in GRANTS and GRANTS[s] not in scopes])


def downgrade() -> None:
    # Encrypted secrets do not fit the old width: decrypt them first (there is no command for that).
    _rescope(lambda scopes: [s for s in scopes if s not in GRANTS.values()])
    with op.batch_alter_table('webhooks', schema=None) as batch_op:
        batch_op.alter_column('previous_secret', existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=100), existing_nullable=True)
        batch_op.alter_column('secret', existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
                              type_=sqlmodel.sql.sqltypes.AutoString(length=100), existing_nullable=False)

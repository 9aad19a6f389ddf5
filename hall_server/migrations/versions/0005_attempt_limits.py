"""attempt limits: failed logins and file inquiries counted in the database, shared by every process

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""
import sqlalchemy as sa
from alembic import op

import hall_server.storage

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('attempt_limits',
                    sa.Column('key', sa.String(length=120), nullable=False),
                    sa.Column('failures', sa.Integer(), nullable=False),
                    sa.Column('locked_until', hall_server.storage.UTCDateTime(), nullable=True),
                    sa.Column('forget_at', hall_server.storage.UTCDateTime(), nullable=False),
                    sa.PrimaryKeyConstraint('key', name=op.f('pk_attempt_limits')))
    op.create_index('ix_attempt_limits_forget_at', 'attempt_limits', ['forget_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_attempt_limits_forget_at', table_name='attempt_limits')
    op.drop_table('attempt_limits')

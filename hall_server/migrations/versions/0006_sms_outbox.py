"""sms outbox: outbound SMS kept in the database until a worker has sent them

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 12:00:00
"""
import sqlalchemy as sa
from alembic import op

import hall_server.storage

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_outbox',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('hall', sa.String(length=40), nullable=False),
                    sa.Column('phone', sa.String(length=32), nullable=False),
                    sa.Column('text', sa.Text(), nullable=False),
                    sa.Column('kind', sa.String(length=40), nullable=False),
                    sa.Column('status', sa.String(length=10), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('next_attempt_at', hall_server.storage.UTCDateTime(), nullable=False),
                    sa.Column('lease_until', hall_server.storage.UTCDateTime(), nullable=True),
                    sa.Column('created_at', hall_server.storage.UTCDateTime(), nullable=False),
                    sa.Column('sent_at', hall_server.storage.UTCDateTime(), nullable=True),
                    sa.Column('last_error', sa.Text(), nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_outbox')))
    op.create_index('ix_sms_outbox_due', 'sms_outbox', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sms_outbox_due', table_name='sms_outbox')
    op.drop_table('sms_outbox')

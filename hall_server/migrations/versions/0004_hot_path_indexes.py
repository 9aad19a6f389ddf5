"""hot path indexes: priority and transfer heads for call-next, phone tickets for the near-turn SMS

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 02:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_tickets_waiting_priority', 'tickets', ['hall', 'status', 'service', 'queued_at'],
                    unique=False, sqlite_where=sa.text('priority IS NOT NULL'),
                    postgresql_where=sa.text('priority IS NOT NULL'))
    op.create_index('ix_tickets_targeted', 'tickets', ['hall', 'status', 'target_window', 'queued_at'],
                    unique=False, sqlite_where=sa.text('target_window IS NOT NULL'),
                    postgresql_where=sa.text('target_window IS NOT NULL'))
    op.create_index('ix_tickets_phone', 'tickets', ['hall', 'status'], unique=False,
                    sqlite_where=sa.text('phone IS NOT NULL'), postgresql_where=sa.text('phone IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_tickets_phone', table_name='tickets')
    op.drop_index('ix_tickets_targeted', table_name='tickets')
    op.drop_index('ix_tickets_waiting_priority', table_name='tickets')

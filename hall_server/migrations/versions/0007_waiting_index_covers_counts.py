"""waiting index covers the count of people ahead: target_window before queued_at in ix_tickets_waiting

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 15:30:00
"""
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_tickets_waiting', table_name='tickets')
    op.create_index('ix_tickets_waiting', 'tickets', ['hall', 'status', 'service', 'target_window', 'queued_at'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_tickets_waiting', table_name='tickets')
    op.create_index('ix_tickets_waiting', 'tickets', ['hall', 'status', 'service', 'queued_at'], unique=False)

"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 02:36:31.457975
"""
from alembic import op
import sqlalchemy as sa
import hall_server.storage


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('counters',
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('prefix', sa.String(length=4), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('hall', 'prefix', 'day', name=op.f('pk_counters'))
    )
    op.create_table('halls',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('board_message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_halls'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('full_name', sa.String(length=120), nullable=False),
    sa.Column('halls', sa.JSON(), nullable=True),
    sa.Column('windows', sa.JSON(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('api_tokens',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=True),
    sa.Column('device_name', sa.String(length=60), nullable=True),
    sa.Column('created_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('expires_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_api_tokens'))
    )
    op.create_table('tickets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('prefix', sa.String(length=4), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('token', sa.String(length=40), nullable=False),
    sa.Column('issued_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('queued_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('called_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.Column('started_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.Column('finished_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.Column('window', sa.Integer(), nullable=True),
    sa.Column('target_window', sa.Integer(), nullable=True),
    sa.Column('recall_count', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=24), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('request_file', sa.String(length=32), nullable=True),
    sa.Column('eta_at_issue', sa.Integer(), nullable=True),
    sa.Column('people_ahead_at_issue', sa.Integer(), nullable=True),
    sa.Column('device', sa.String(length=60), nullable=True),
    sa.Column('idempotency_key', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['hall'], ['halls.code'], name=op.f('fk_tickets_hall_halls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tickets')),
    sa.UniqueConstraint('hall', 'idempotency_key', name='uq_tickets_idempotency'),
    sa.UniqueConstraint('hall', 'prefix', 'day', 'seq', name='uq_tickets_number'),
    sa.UniqueConstraint('token', name=op.f('uq_tickets_token'))
    )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_one_active_per_window', ['hall', 'window'], unique=True, sqlite_where=sa.text("status IN ('called', 'serving')"), postgresql_where=sa.text("status IN ('called', 'serving')"))
        batch_op.create_index('ix_tickets_waiting', ['hall', 'status', 'service', 'queued_at'], unique=False)

    op.create_table('windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('clerk_id', sa.Integer(), nullable=True),
    sa.Column('services', sa.JSON(), nullable=False),
    sa.Column('priority_streak', sa.Integer(), nullable=False),
    sa.Column('changed_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['clerk_id'], ['users.id'], name=op.f('fk_windows_clerk_id_users')),
    sa.ForeignKeyConstraint(['hall'], ['halls.code'], name=op.f('fk_windows_hall_halls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_windows')),
    sa.UniqueConstraint('hall', 'number', name='uq_windows_hall_number')
    )
    op.create_table('ticket_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=True),
    sa.Column('window', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=80), nullable=True),
    sa.Column('seq', sa.Integer(), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_events_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_events'))
    )
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_events_hall_at', ['hall', 'at'], unique=False)
        batch_op.create_index('ix_ticket_events_ticket', ['ticket_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticket_events', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_events_ticket')
        batch_op.drop_index('ix_ticket_events_hall_at')

    op.drop_table('ticket_events')
    op.drop_table('windows')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_waiting')
        batch_op.drop_index('ix_tickets_one_active_per_window', sqlite_where=sa.text("status IN ('called', 'serving')"), postgresql_where=sa.text("status IN ('called', 'serving')"))

    op.drop_table('tickets')
    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('halls')
    op.drop_table('counters')

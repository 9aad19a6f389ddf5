"""request files

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:52:44.719599
"""
from alembic import op
import sqlalchemy as sa
import hall_server.storage


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('request_files',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=16), nullable=False),
    sa.Column('service', sa.String(length=40), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('department', sa.String(length=40), nullable=False),
    sa.Column('citizen_name', sa.String(length=120), nullable=False),
    sa.Column('national_id', sa.String(length=14), nullable=False),
    sa.Column('mobile', sa.String(length=15), nullable=True),
    sa.Column('fee', sa.Float(), nullable=False),
    sa.Column('documents', sa.JSON(), nullable=False),
    sa.Column('received_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('closed_at', hall_server.storage.UTCDateTime(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hall'], ['halls.code'], name=op.f('fk_request_files_hall_halls')),
    sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_request_files_ticket_id_tickets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_files')),
    sa.UniqueConstraint('hall', 'year', 'seq', name='uq_request_files_number')
    )
    with op.batch_alter_table('request_files', schema=None) as batch_op:
        batch_op.create_index('ix_request_files_queue', ['hall', 'department', 'status', 'due_date'], unique=False)

    op.create_table('file_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_id', sa.Integer(), nullable=False),
    sa.Column('hall', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('department', sa.String(length=40), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['file_id'], ['request_files.id'], name=op.f('fk_file_events_file_id_request_files')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_file_events'))
    )
    with op.batch_alter_table('file_events', schema=None) as batch_op:
        batch_op.create_index('ix_file_events_file', ['file_id'], unique=False)

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('near_notified', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('departments', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('departments')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_column('near_notified')

    with op.batch_alter_table('file_events', schema=None) as batch_op:
        batch_op.drop_index('ix_file_events_file')

    op.drop_table('file_events')
    with op.batch_alter_table('request_files', schema=None) as batch_op:
        batch_op.drop_index('ix_request_files_queue')

    op.drop_table('request_files')

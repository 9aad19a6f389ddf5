"""audit trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 02:57:44.047806
"""
from alembic import op
import sqlalchemy as sa
import hall_server.storage


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_heads',
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_audit_heads'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('chain', sa.String(length=40), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('at', hall_server.storage.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('ticket', sa.String(length=16), nullable=True),
    sa.Column('file', sa.String(length=16), nullable=True),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('chain', 'n', name='uq_audit_log_chain_n')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_actor', ['actor'], unique=False)
        batch_op.create_index('ix_audit_log_file', ['file'], unique=False)
        batch_op.create_index('ix_audit_log_ticket', ['ticket'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_ticket')
        batch_op.drop_index('ix_audit_log_file')
        batch_op.drop_index('ix_audit_log_actor')

    op.drop_table('audit_log')
    op.drop_table('audit_heads')

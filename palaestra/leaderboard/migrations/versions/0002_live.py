"""Live sessions, their episodes and their committed steps; results files' sizes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the three live-evaluation tables; keep each stored file's size."""
    with op.batch_alter_table("submissions") as table:
        table.add_column(
            sa.Column("body_bytes", sa.BigInteger(), nullable=False, server_default="0")
        )
    # Files stored before: their size once, so the quota never reads them again.
    postgres = op.get_bind().dialect.name == "postgresql"
    size = "octet_length(body)" if postgres else "length(CAST(body AS BLOB))"
    op.execute(f"UPDATE submissions SET body_bytes = {size}")
    op.create_table(
        "live_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_id", sa.Integer(), sa.ForeignKey("tokens.id"), nullable=False),
        sa.Column("suite", sa.String(100), nullable=False),
        sa.Column("suite_hash", sa.String(64), nullable=False),
        sa.Column("agent_name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_live_sessions_token_id", "live_sessions", ["token_id"])
    op.create_index("ix_live_sessions_suite", "live_sessions", ["suite"])
    open_only = sa.text("status = 'open'")
    op.create_index(
        "ix_live_sessions_open",
        "live_sessions",
        ["token_id", "suite"],
        unique=True,
        sqlite_where=open_only,
        postgresql_where=open_only,
    )
    op.create_table(
        "live_episodes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("session_id", sa.String(32), sa.ForeignKey("live_sessions.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(100), nullable=False),
        sa.Column("observation", sa.Text(), nullable=True),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("total_reward", sa.Float(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("session_id", "position"),
    )
    op.create_index("ix_live_episodes_session_id", "live_episodes", ["session_id"])
    op.create_table(
        "live_steps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("episode_id", sa.Integer(), sa.ForeignKey("live_episodes.id"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("reward", sa.Float(), nullable=False),
        sa.Column("observation", sa.Text(), nullable=False),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("terminated", sa.Boolean(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("episode_id", "step"),
    )
    op.create_index("ix_live_steps_episode_id", "live_steps", ["episode_id"])


def downgrade() -> None:
    """Drop the live-evaluation tables and the files' sizes."""
    with op.batch_alter_table("submissions") as table:
        table.drop_column("body_bytes")
    op.drop_table("live_steps")
    op.drop_table("live_episodes")
    op.drop_table("live_sessions")

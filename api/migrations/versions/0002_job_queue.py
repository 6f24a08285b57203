"""The job queue in the database: servers that claim jobs, and who holds each job.

``servers``: one row per ``planner serve`` process (host, pid, heartbeat).  ``jobs.server_id`` is
the server that claimed the job (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL); ``attempts``
counts the claims, so a job whose server died is retried once and then failed, saying which.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("seen_at", sa.DateTime, nullable=False),
        sa.Column("stopped_at", sa.DateTime),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("server_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=True))
        batch.create_index("ix_jobs_status", ["status"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_status")
        batch.drop_column("attempts")
        batch.drop_column("server_id")
    op.drop_table("servers")

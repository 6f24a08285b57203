"""Province batches: one row per (batch, region, scenario), so a batch run again keeps what finished.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch", sa.String(200), nullable=False),
        sa.Column("region", sa.String(100), nullable=False),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("plan_id", sa.Integer),
        sa.Column("message", sa.Text),
        sa.Column("seconds", sa.Float),
        sa.Column("peak_rss_mb", sa.Float),
        sa.Column("worker", sa.String(200)),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("batch", "region", "scenario", name="uq_batch_result"),
    )


def downgrade() -> None:
    op.drop_table("batch_results")

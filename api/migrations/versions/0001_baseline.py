"""Baseline: the store as it was through issue 15 (keys, region versions, scenarios, jobs, plans,
uploads, audit, patrols, visits).

A database made before migrations existed (``metadata.create_all`` plus columns added at start)
is brought to this revision in place: missing tables are created and missing nullable columns
added, so nothing already stored is lost.

Revision ID: 0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tables() -> list[tuple[str, list, list]]:
    """(name, columns, constraints) of every table at this revision."""
    fk_key = lambda: sa.ForeignKey("api_keys.id")  # noqa: E731 - a fresh object per column
    return [
        ("api_keys", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("name", sa.String(200), nullable=False),
            sa.Column("prefix", sa.String(16), nullable=False, index=True),
            sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
            sa.Column("role", sa.String(20), nullable=False),
            sa.Column("town", sa.String(200)),
            sa.Column("station", sa.String(200)),
            sa.Column("revoked", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("region_versions", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(100), nullable=False, index=True),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("parent", sa.Integer),
            sa.Column("note", sa.Text, nullable=False),
            sa.Column("fingerprint", sa.String(64)),
            sa.Column("upload_id", sa.Integer),
            sa.Column("change", sa.String(10)),
            sa.Column("sites", sa.Integer),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], [sa.UniqueConstraint("region", "version", name="uq_region_version")]),
        ("scenarios", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(100), nullable=False),
            sa.Column("region_version", sa.Integer),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("jobs", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("scenario_id", sa.Integer, sa.ForeignKey("scenarios.id"), nullable=False),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("progress", sa.Float, nullable=False),
            sa.Column("message", sa.Text),
            sa.Column("plan_id", sa.Integer),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
            sa.Column("started_at", sa.DateTime),
            sa.Column("finished_at", sa.DateTime),
        ], []),
        ("plans", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("scenario_id", sa.Integer, sa.ForeignKey("scenarios.id")),
            sa.Column("region", sa.String(100), nullable=False),
            sa.Column("region_version", sa.Integer),
            sa.Column("town", sa.String(200)),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("payload", sa.JSON, nullable=False),
            sa.Column("geojson", sa.Text, nullable=False),
            sa.Column("snapshot", sa.String(300)),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("uploads", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(100), nullable=False),
            sa.Column("town", sa.String(200)),
            sa.Column("kind", sa.String(20), nullable=False),
            sa.Column("region_version", sa.Integer),
            sa.Column("filename", sa.String(255), nullable=False),
            sa.Column("geojson", sa.Text, nullable=False),
            sa.Column("features", sa.Integer, nullable=False),
            sa.Column("facility_type", sa.String(40)),
            sa.Column("status", sa.String(20)),
            sa.Column("decided_by", sa.Integer, fk_key()),
            sa.Column("decided_at", sa.DateTime),
            sa.Column("decision_note", sa.Text),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("audit", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("key_id", sa.Integer),
            sa.Column("key_name", sa.String(200)),
            sa.Column("role", sa.String(20)),
            sa.Column("action", sa.String(40), nullable=False),
            sa.Column("target", sa.String(40), nullable=False),
            sa.Column("target_id", sa.String(100)),
            sa.Column("region", sa.String(100)),
            sa.Column("detail", sa.JSON),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("patrols", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(100), nullable=False),
            sa.Column("region_version", sa.Integer),
            sa.Column("station", sa.String(200), nullable=False),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("payload", sa.JSON, nullable=False),
            sa.Column("geojson", sa.Text, nullable=False),
            sa.Column("gpx", sa.LargeBinary, nullable=False),
            sa.Column("snapshot", sa.String(300)),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
        ("visits", [
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("region", sa.String(100), nullable=False),
            sa.Column("region_version", sa.Integer),
            sa.Column("town", sa.String(200)),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("payload", sa.JSON, nullable=False),
            sa.Column("calendar", sa.JSON, nullable=False),
            sa.Column("created_by", sa.Integer, fk_key()),
            sa.Column("created_at", sa.DateTime, nullable=False),
        ], []),
    ]


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    existing = set(inspector.get_table_names())
    for name, columns, constraints in _tables():
        if name not in existing:
            op.create_table(name, *columns, *constraints)
            continue
        present = {c["name"] for c in inspector.get_columns(name)}
        for column in columns:  # a database from before migrations: only nullable columns were ever added
            if column.name not in present and column.nullable:
                op.add_column(name, sa.Column(column.name, column.type, nullable=True))


def downgrade() -> None:
    for name, _columns, _constraints in reversed(_tables()):
        op.drop_table(name)

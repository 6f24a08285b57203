"""Alembic migrations of the service's store (``planner db upgrade``; ``planner serve`` runs them at start)."""

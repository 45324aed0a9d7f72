"""Imports every capability's tables so Alembic and tests see the whole schema."""

from __future__ import annotations


def import_all_models() -> None:
    import app.core.auth.models
    import app.core.models
    import app.handover.models
    import app.ledger.models
    import app.org.models
    import app.ownership.models
    import app.scheduling.models  # noqa: F401

"""Imports every capability's job handlers so any worker can run any queued job."""

from __future__ import annotations


def import_all_jobs() -> None:
    import app.core.maintenance
    import app.ledger.jobs
    import app.ownership.jobs
    import app.scheduling.jobs  # noqa: F401

"""What the server's PostgreSQL backends are doing while a phase runs: `pg_stat_activity`
of the scratch database, sampled every SAMPLE_SECONDS on a connection of its own. Reports
the mean number of backends waiting for a lock (`wait_event_type = 'Lock'`) and, of
those, the ones waiting inside `ledger_append_now(...)` — for the county ledger's head row —
and the mean number inside a transaction waiting for the app (`idle in transaction`)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

SAMPLE_SECONDS = 0.05
QUERY = """
SELECT wait_event_type = 'Lock' AS locked,
       wait_event_type = 'Lock' AND query LIKE '%ledger_append_now(%' AS ledger,
       state = 'idle in transaction' AS idle
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


@dataclass(frozen=True, slots=True)
class Waits:
    locked: float
    ledger: float
    idle_in_transaction: float

    def __str__(self) -> str:
        return (
            f"{self.locked:.1f} ({self.ledger:.1f} on the ledger) / {self.idle_in_transaction:.1f}"
        )


class Sampler:
    """`async with Sampler(url) as sampler: ...`; then `sampler.waits()`."""

    def __init__(self, url: str) -> None:
        u = make_url(url)
        self.dsn = f"postgresql://{u.username}@{u.host}:{u.port}/{u.database}"
        self.counts: Counter[str] = Counter()
        self.samples = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self, connection: asyncpg.Connection) -> None:
        try:
            while True:
                for row in await connection.fetch(QUERY):
                    self.counts.update(k for k in ("locked", "ledger", "idle") if row[k])
                self.samples += 1
                await asyncio.sleep(SAMPLE_SECONDS)
        finally:
            await connection.close()

    async def __aenter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run(await asyncpg.connect(self.dsn)))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def waits(self) -> Waits:
        n = max(1, self.samples)
        c = self.counts
        return Waits(c["locked"] / n, c["ledger"] / n, c["idle"] / n)

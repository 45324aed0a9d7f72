"""The event loop the app's long-running processes run on.

uvicorn serves the web processes on uvloop when it is installed (its `loop="auto"`);
`run` puts the background worker, and the benchmarks that stand in for the web
processes, on the same loop. uvloop is the loop asyncpg is written for: one writer's
client CPU per one-entry transaction drops by about 9 % (bench/README.md). Without it
(a platform uvloop does not support), asyncio's own loop runs the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - every supported platform installs it
        return asyncio.run(main)
    return uvloop.run(main)

"""The loop the worker and the web processes run on."""

from __future__ import annotations

import asyncio

import pytest

from app.core import aio


def test_run_gives_the_coroutines_result_on_uvloop() -> None:
    async def main() -> tuple[str, int]:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__, 42

    module, value = aio.run(main())

    assert value == 42
    assert module.startswith("uvloop")


def test_run_lets_the_coroutines_error_through() -> None:
    async def main() -> None:
        raise LookupError("no such case")

    with pytest.raises(LookupError, match="no such case"):
        aio.run(main())

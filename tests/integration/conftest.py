from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.asgi import create_app
from app.core.auth import services as auth
from app.core.auth.access import system_principal
from app.core.auth.roles import Role
from app.core.clock import FixedClock
from app.core.db import session_factory, transaction
from app.core.settings import Settings
from app.org import services as org
from app.org.rules import ReceptionRole, UnitKind
from app.org.schemas import PersonIn, PostIn, TenureIn, UnitIn

PASSWORD = "correct-horse-9"
SYSTEM = system_principal("tests")
RADICALE_STARTUP_SECONDS = 30.0


@dataclass
class County:
    county: int
    township: int
    street: int
    village: int
    department: int
    other_county: int
    other_township: int
    secretary_post: int
    deputy_post: int
    person: int
    tenure: int


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC))


@pytest.fixture
def factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


async def _unit(
    db: AsyncSession, now: dt.datetime, kind: UnitKind, code: str, name: str, parent: int | None
) -> int:
    return (await org.create_unit(db, SYSTEM, now, UnitIn(kind, code, name, parent))).id


async def _build(db: AsyncSession, now: dt.datetime) -> County:
    county = await _unit(db, now, UnitKind.county, "990001", "测试县", None)
    township = await _unit(db, now, UnitKind.township, "990001001", "东山镇", county)
    street = await _unit(db, now, UnitKind.street, "990001002", "城南街道", county)
    village = await _unit(db, now, UnitKind.village, "990001001201", "上塘村", township)
    department = await _unit(db, now, UnitKind.department, "990001D01", "县信访局", county)
    other = await _unit(db, now, UnitKind.county, "990002", "邻县", None)
    other_township = await _unit(db, now, UnitKind.township, "990002001", "西岭乡", other)
    secretary = await org.create_post(
        db, SYSTEM, now, PostIn(township, "党委书记", ReceptionRole.township_secretary)
    )
    deputy = await org.create_post(
        db, SYSTEM, now, PostIn(township, "乡镇长", ReceptionRole.township_head)
    )
    person = await org.create_person(db, SYSTEM, now, PersonIn("张建华", "男", county))
    tenure = await org.appoint(
        db, SYSTEM, now, TenureIn(person.id, secretary.id, dt.date(2024, 1, 5))
    )
    return County(
        county,
        township,
        street,
        village,
        department,
        other,
        other_township,
        secretary.id,
        deputy.id,
        person.id,
        tenure.id,
    )


async def _accounts(db: AsyncSession, now: dt.datetime, c: County) -> None:
    specs = [
        ("admin", [Role.admin], c.county, None),
        ("towner", [Role.admin], c.township, None),
        ("root", [Role.admin], None, None),
        ("clerk", [Role.clerk], c.county, None),
        ("leader", [Role.leader], c.county, c.person),
        ("jiwei", [Role.reviewer_discipline], c.county, None),
        ("neighbour", [Role.admin], c.other_county, None),
    ]
    for username, roles, scope, person in specs:
        await auth.create_account(
            db,
            SYSTEM,
            now,
            username=username,
            password=PASSWORD,
            display_name=username,
            roles=roles,
            scope_unit_id=scope,
            person_id=person,
        )


@pytest.fixture
async def county(factory: async_sessionmaker[AsyncSession], clock: FixedClock) -> County:
    async with transaction(factory) as db:
        built = await _build(db, clock.now())
        await _accounts(db, clock.now(), built)
    return built


@pytest.fixture
async def client(
    settings: Settings, clock: FixedClock, county: County
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as test_client:
        yield test_client


async def bearer(client: AsyncTestClient[Litestar], username: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", json={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# ---------------------------------------------------------------- a CalDAV server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(folder: Path, port: int) -> str:
    return (
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = none\n"
        "[rights]\n"
        "type = owner_only\n"
        "[storage]\n"
        f"filesystem_folder = {folder}\n"
        "[web]\n"
        "type = none\n"
        "[logging]\n"
        "level = warning\n"
    )


def _wait_until_answering(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + RADICALE_STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"radicale exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP status means the server is up
        except OSError:
            time.sleep(0.1)
    pytest.fail(
        f"radicale did not answer on {url} within {RADICALE_STARTUP_SECONDS}s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def radicale_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Radicale CalDAV server (a subprocess, no authentication) for the whole run; tests
    make their own calendar collections in it."""
    pytest.importorskip(
        "radicale", reason="radicale is not installed (a dev dependency: pip install -e .[dev])"
    )
    root = tmp_path_factory.mktemp("radicale")
    port = _free_port()
    config = root / "config"
    config.write_text(_config(root / "collections", port), encoding="utf-8")
    log = root / "radicale.log"
    url = f"http://127.0.0.1:{port}/"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_answering(server, url, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

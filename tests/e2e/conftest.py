"""A real server for browser journeys: a fresh var directory with keys, the migrated
database and the demo county, served by `jiefang serve` on a free port; and one headless
Debian Chromium per test module (never a downloaded browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
JIEFANG = Path(sys.executable).parent / "jiefang"
STARTUP_SECONDS = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _environment(var_dir: Path) -> dict[str, str]:
    env = {**os.environ, "JIEFANG_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"}
    env.pop("JIEFANG_DATABASE_URL", None)
    env.pop("JIEFANG_KEYS_DIR", None)
    database_url = os.environ.get("JIEFANG_TEST_DATABASE_URL")
    if database_url:
        env["JIEFANG_DATABASE_URL"] = database_url
    return env


def _jiefang(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [str(JIEFANG), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"jiefang {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_up(server: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jiefang serve exited ({server.returncode}):\n{log.read_text()}")
        if _answers(url):
            return
        time.sleep(0.2)
    pytest.fail(f"jiefang serve did not answer {url} in {STARTUP_SECONDS:.0f}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a server on the demo county."""
    var_dir = tmp_path_factory.mktemp("jiefang-e2e")
    env = _environment(var_dir)
    _jiefang(env, "keys", "init")
    _jiefang(env, "db", "upgrade")
    _jiefang(env, "demo", "load")
    # The demo goes through the services, so it is ledgered like real data and verifies.
    _jiefang(env, "ledger", "checkpoint")
    _jiefang(env, "ledger", "verify")
    port = _free_port()
    log = var_dir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            # With its worker, as `make run` serves: a roster solve is a job.
            [str(JIEFANG), "serve", "--host", "127.0.0.1", "--port", str(port), "--with-worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(server, f"{base}/login", log)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per module. Playwright's sync driver runs an event loop of its own, so
    it is stopped with the module rather than kept for the session, where it would stand in
    the way of the async tests that follow."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh phone-sized, Chinese-locale browser context per test (no shared cookies)."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    context.set_default_timeout(10_000)
    opened = context.new_page()
    yield opened
    context.close()

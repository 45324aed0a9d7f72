"""create_app(): the Litestar application with its plugins; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from os import PathLike
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from app.core import bench_routes
from app.core import pages as core_pages
from app.core.auth import pages as auth_pages
from app.core.auth import routes as auth_routes
from app.core.auth.access import public
from app.core.clock import Clock, SystemClock
from app.core.db import create_engine, session_factory
from app.core.jobs import Worker
from app.core.keys import KeyRing
from app.core.problems import EXCEPTION_HANDLERS
from app.core.rates import RATE_STORE, RedisRates, redis_rates
from app.core.settings import Settings, load_settings
from app.core.web import (
    Runtime,
    access_guard,
    provide_actor,
    provide_clock,
    provide_db,
    provide_principal,
)
from app.handover import pages as handover_pages
from app.handover import routes as handover_routes
from app.jobs import import_all_jobs
from app.ledger import pages as ledger_pages
from app.ledger import routes as ledger_routes
from app.ledger.bootstrap import bootstrap_ledgers
from app.org import pages as org_pages
from app.org import routes as org_routes
from app.ownership import (
    deadline_pages,
    deadline_routes,
    notice_pages,
    petition_pages,
    supervision_pages,
    supervision_routes,
    supervision_services,
)
from app.ownership import pages as ownership_pages
from app.ownership import routes as ownership_routes
from app.ownership import track_pages as ownership_track_pages
from app.scheduling import (
    booking_routes,
    citizen_pages,
    clerk_pages,
    meeting_pages,
    outbox_pages,
    reception_pages,
    reception_routes,
    reschedule_pages,
)
from app.scheduling import pages as scheduling_pages
from app.scheduling import queue_pages as scheduling_queue_pages
from app.scheduling import queue_routes as scheduling_queue_routes
from app.scheduling import routes as scheduling_routes

APP_DIR = Path(__file__).parent
TEMPLATE_DIRS: list[Path | PathLike[Any] | str] = [
    APP_DIR / "core" / "templates",
    APP_DIR / "org" / "templates",
    APP_DIR / "ledger" / "templates",
    APP_DIR / "scheduling" / "templates",
    APP_DIR / "ownership" / "templates",
    APP_DIR / "handover" / "templates",
]


def _lifespan(
    runtime: Runtime, redis: RedisRates | None
) -> contextlib.AbstractAsyncContextManager[None]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = None
        await bootstrap_ledgers(runtime.factory, runtime.settings, runtime.clock.now())
        if runtime.settings.in_process_worker:
            worker = Worker(runtime.factory, runtime.clock, keys=runtime.keys)
            task = asyncio.create_task(worker.run_forever(stop))
        # What is loaded by now (modules, templates, mappers) lives as long as the
        # process: keep it out of the collector, whose full passes over it were the
        # listing's slowest requests (bench/README.md, "Booking").
        gc.freeze()
        try:
            yield
        finally:
            stop.set()
            if task is not None:
                await task
            await runtime.engine.dispose()
            if redis is not None:
                await redis.close()

    return lifespan  # type: ignore[return-value]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Litestar:
    settings = settings or load_settings()
    keys = KeyRing(settings.keys_dir)  # refuses to start without keys
    supervision_services.rules_of(settings)  # a bad JIEFANG_RANKING_FILE refuses to start
    engine = create_engine(settings)
    redis = redis_rates(settings.redis_url, settings.deployment) if settings.redis_url else None
    info = {} if redis is None else {RATE_STORE: redis}
    runtime = Runtime(settings, engine, session_factory(engine, info), keys, clock or SystemClock())
    import_all_jobs()

    return Litestar(
        route_handlers=[
            core_pages.HomePages,
            auth_routes.AuthController,
            auth_pages.LoginPages,
            *org_routes.ROUTES,
            *ledger_routes.ROUTES,
            *scheduling_routes.ROUTES,
            *booking_routes.ROUTES,
            *scheduling_queue_routes.ROUTES,
            *reception_routes.ROUTES,
            *deadline_routes.ROUTES,
            *ownership_routes.ROUTES,
            *supervision_routes.ROUTES,
            *handover_routes.ROUTES,
            *org_pages.ROUTES,
            *ledger_pages.ROUTES,
            *meeting_pages.ROUTES,
            *scheduling_queue_pages.ROUTES,
            *reception_pages.ROUTES,
            *clerk_pages.ROUTES,
            *outbox_pages.ROUTES,
            *citizen_pages.ROUTES,
            *reschedule_pages.ROUTES,
            *scheduling_pages.ROUTES,
            *deadline_pages.ROUTES,
            *supervision_pages.ROUTES,
            *notice_pages.ROUTES,
            *petition_pages.ROUTES,
            *ownership_pages.ROUTES,
            *ownership_track_pages.ROUTES,
            *handover_pages.ROUTES,
            *core_pages.ROUTES,
            *(bench_routes.ROUTES if settings.bench_endpoints else []),
            create_static_files_router(
                path="/static", directories=[APP_DIR / "core" / "static"], opt=public()
            ),
        ],
        dependencies={
            "db": Provide(provide_db),
            "clock": Provide(provide_clock, sync_to_thread=False),
            "actor": Provide(provide_actor, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        guards=[access_guard],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[
            CookieBackendConfig(
                secret=keys.derive("session", "cookie"),
                key="jiefang_session",
                max_age=settings.session_max_age_minutes * 60,
                secure=settings.secure_cookies,
                httponly=True,
                samesite="lax",
                exclude=["^/api/", "^/static/", "^/schema"],
            ).middleware
        ],
        csrf_config=CSRFConfig(
            secret=keys.derive("session", "csrf").hex(),
            cookie_name="jiefang_csrf",
            cookie_secure=settings.secure_cookies,
            exclude=["^/api/"],
        ),
        template_config=TemplateConfig(directory=TEMPLATE_DIRS, engine=JinjaTemplateEngine),
        openapi_config=OpenAPIConfig(
            title="接访 Jiefang API",
            version="1",
            path="/schema",
            render_plugins=[JsonRenderPlugin()],
            openapi_router=Router(path="/schema", route_handlers=[], opt=public()),
        ),
        lifespan=[_lifespan(runtime, redis)],
        state=State({"runtime": runtime}),
        debug=False,
    )

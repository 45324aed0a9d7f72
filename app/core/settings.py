"""Settings read once from the environment (JIEFANG_*); nothing else reads os.environ."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import msgspec


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    var_dir: Path
    database_url: str
    keys_dir: Path
    deployment: str = "jiefang"
    secure_cookies: bool = False
    in_process_worker: bool = False
    #: Adds the benchmark-only routes of `app.core.bench_routes` (JIEFANG_BENCH_ENDPOINTS);
    #: off in every real deployment.
    bench_endpoints: bool = False
    db_pool_size: int = 10
    #: Where citizens' rate limits count (JIEFANG_REDIS_URL, e.g. redis://127.0.0.1:6379/0);
    #: unset, in the database (app.core.rates).
    redis_url: str | None = None
    login_max_failures: int = 5
    login_window_minutes: int = 15
    token_ttl_minutes: int = 480
    session_max_age_minutes: int = 480
    #: Which registered SMS sender delivers the outbox (the outbox page itself by default).
    sms_sender: str = "outbox"
    #: Booking limits (see scheduling.booking_services.Policy): how many days ahead a
    #: sitting can be booked, when booking closes (days before, at hh:mm), how many active
    #: bookings a citizen may hold per month, and whose regulations name representatives.
    booking_window_days: int = 30
    booking_notice_days: int = 1
    booking_closes_at: str = "17:00"
    booking_per_month: int = 3
    jurisdiction: str = "zhejiang"
    #: The red/black list's weights and cut-offs (JSON; see app/ownership/ranking.py), and
    #: the daily summary's early warning: `warning_cases` of one category from one place
    #: within `warning_days` days.
    ranking_file: Path | None = None
    warning_cases: int = 3
    warning_days: int = 7

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


JURISDICTIONS = ("zhejiang", "national")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _checked(settings: Settings) -> Settings:
    """Refuse at start, not at the first booking, values that cannot work."""
    if settings.jurisdiction not in JURISDICTIONS:
        raise ValueError(f"JIEFANG_JURISDICTION must be one of {', '.join(JURISDICTIONS)}")
    if settings.warning_cases < 1 or settings.warning_days < 1:
        raise ValueError("JIEFANG_WARNING_CASES and JIEFANG_WARNING_DAYS must be at least 1")
    if settings.ranking_file is not None and not settings.ranking_file.is_file():
        raise ValueError(f"JIEFANG_RANKING_FILE {settings.ranking_file} is not a file")
    if settings.redis_url and not settings.redis_url.startswith(REDIS_SCHEMES):
        raise ValueError(f"JIEFANG_REDIS_URL must start with {' or '.join(REDIS_SCHEMES)}")
    try:
        dt.time.fromisoformat(settings.booking_closes_at)
    except ValueError as bad:
        raise ValueError("JIEFANG_BOOKING_CLOSES_AT must be HH:MM") from bad
    return settings


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    var_dir = Path(env.get("JIEFANG_VAR_DIR", "var")).resolve()
    default_db = f"sqlite+aiosqlite:///{var_dir / 'jiefang.db'}"
    return _checked(
        Settings(
            var_dir=var_dir,
            database_url=env.get("JIEFANG_DATABASE_URL") or default_db,
            keys_dir=Path(env.get("JIEFANG_KEYS_DIR") or var_dir / "keys").resolve(),
            deployment=env.get("JIEFANG_DEPLOYMENT", "jiefang"),
            secure_cookies=_flag(env.get("JIEFANG_SECURE_COOKIES"), False),
            in_process_worker=_flag(env.get("JIEFANG_IN_PROCESS_WORKER"), False),
            bench_endpoints=_flag(env.get("JIEFANG_BENCH_ENDPOINTS"), False),
            db_pool_size=int(env.get("JIEFANG_DB_POOL_SIZE", "10")),
            redis_url=env.get("JIEFANG_REDIS_URL") or None,
            login_max_failures=int(env.get("JIEFANG_LOGIN_MAX_FAILURES", "5")),
            login_window_minutes=int(env.get("JIEFANG_LOGIN_WINDOW_MINUTES", "15")),
            token_ttl_minutes=int(env.get("JIEFANG_TOKEN_TTL_MINUTES", "480")),
            session_max_age_minutes=int(env.get("JIEFANG_SESSION_MAX_AGE_MINUTES", "480")),
            sms_sender=env.get("JIEFANG_SMS_SENDER", "outbox"),
            booking_window_days=int(env.get("JIEFANG_BOOKING_WINDOW_DAYS", "30")),
            booking_notice_days=int(env.get("JIEFANG_BOOKING_NOTICE_DAYS", "1")),
            booking_closes_at=env.get("JIEFANG_BOOKING_CLOSES_AT", "17:00"),
            booking_per_month=int(env.get("JIEFANG_BOOKING_PER_MONTH", "3")),
            jurisdiction=env.get("JIEFANG_JURISDICTION", "zhejiang"),
            ranking_file=Path(env["JIEFANG_RANKING_FILE"]).resolve()
            if env.get("JIEFANG_RANKING_FILE")
            else None,
            warning_cases=int(env.get("JIEFANG_WARNING_CASES", "3")),
            warning_days=int(env.get("JIEFANG_WARNING_DAYS", "7")),
        )
    )

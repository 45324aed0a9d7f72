"""Calendar feeds (RFC 5545) to subscribe to: a person's private feed at an unguessable
address, and each venue's public feed.

Calendar clients poll: every answer carries an ETag (SHA-256 of the body, which is stable
for unchanged sittings) and an unchanged feed is answered 304 Not Modified. A refusal is
problem+json, as for any program.
"""

from __future__ import annotations

import hashlib
from typing import Any

from litestar import Controller, Request, Response, get
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth.access import public
from app.core.clock import Clock
from app.core.errors import DomainError, NotFound
from app.core.problems import PROBLEM_JSON
from app.scheduling import services

#: Litestar adds "; charset=utf-8" to a text/* media type: the answer says
#: "text/calendar; charset=utf-8".
CALENDAR_MEDIA_TYPE = "text/calendar"
SUFFIX = ".ics"
FEED_PREFIX = "/ical"
#: Open to anyone, and without the page machinery: no session, no CSRF cookie, so a feed
#: answer sets no cookie and a shared cache may keep the public one.
FEED_ACCESS: dict[str, Any] = {**public(), "exclude_from_csrf": True, "skip_session": True}


def feed_path(token: str) -> str:
    return f"{FEED_PREFIX}/{token}{SUFFIX}"


def venue_feed_path(venue_id: int) -> str:
    return f"{FEED_PREFIX}/venues/{venue_id}{SUFFIX}"


def _stem(name: str) -> str:
    """The name without ".ics"; anything else is an unknown address."""
    if not name.endswith(SUFFIX) or len(name) == len(SUFFIX):
        raise NotFound("该日历订阅地址不存在。")
    return name[: -len(SUFFIX)]


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


def _matches(header: str | None, etag: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): a list of tags, weak ones compared weakly, or *."""
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def calendar_response(
    request: Request[Any, Any, Any], body: bytes, filename: str, *, private: bool
) -> Response[bytes]:
    etag = etag_of(body)
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'private' if private else 'public'}, no-cache",
    }
    if private:
        headers["X-Robots-Tag"] = "noindex"
        headers["Referrer-Policy"] = "no-referrer"
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(b"", status_code=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{filename}"'
    return Response(body, media_type=CALENDAR_MEDIA_TYPE, headers=headers)


def problem(request: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    """Feeds are read by programs, never by people: refusals are problem+json."""
    body = {
        "type": f"/problems/{error.instance_slug}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "instance": request.url.path,
    }
    return Response(body, status_code=error.status, media_type=PROBLEM_JSON)


class CalendarFeeds(Controller):
    path = FEED_PREFIX
    include_in_schema = False

    @get("/{name:str}", opt=FEED_ACCESS)
    async def person(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, name: str
    ) -> Response[Any]:
        """A person's sittings; the address is the secret, so no sign-in."""
        try:
            person_id = await services.person_for_token(db, _stem(name))
            body = await services.person_feed(db, person_id, clock.now())
        except DomainError as refused:
            return problem(request, refused)
        return calendar_response(request, body, "jiefang-sittings.ics", private=True)

    @get("/venues/{name:str}", opt=FEED_ACCESS)
    async def venue(
        self, request: Request[Any, Any, Any], db: AsyncSession, clock: Clock, name: str
    ) -> Response[Any]:
        """Who receives when at a venue: public, as the roster is."""
        try:
            stem = _stem(name)
            if not stem.isdigit():
                raise NotFound("该接访场所不存在。")
            body = await services.venue_feed(db, int(stem), clock.now())
        except DomainError as refused:
            return problem(request, refused)
        return calendar_response(request, body, f"venue-{stem}.ics", private=False)


ROUTES = [CalendarFeeds]

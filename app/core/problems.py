"""The one place where errors become HTTP: RFC 9457 problem+json for programs (`/api/…`),
a Chinese error page for people."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect, Template
from sqlalchemy.exc import IntegrityError

from app.core.errors import PROBLEMS, DomainError

log = logging.getLogger("jiefang.errors")

PROBLEM_JSON = "application/problem+json"

_HTTP_SLUGS = {
    400: "invalid-input",
    401: "not-authenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    422: "invalid-input",
    429: "too-many-attempts",
}
_HTTP_DETAILS = {
    401: "请先登录。",
    403: "无权进行此操作。",
    404: "您访问的地址不存在。",
    405: "该地址不支持这种请求方式。",
    413: "提交的内容太大，请缩小文件后重试。",
}


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith(("/api/", "/schema"))


def problem_response(
    request: Request[Any, Any, Any], slug: str, detail: str, **extra: Any
) -> Response[Any]:
    status, title = PROBLEMS[slug]
    if _wants_page(request):
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return Redirect(path=f"/login?next={quote(target)}")
        return _error_page(request, status, title, detail)
    body = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON)


def _error_page(
    request: Request[Any, Any, Any], status: int, title: str, detail: str
) -> Response[Any]:
    from app.core.web import page  # the page renderer needs the request plumbing

    template: Template = page(
        request, "error.html", status_code=status, status=status, title=title, detail=detail
    )
    return template


def on_domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem_response(request, exc.instance_slug, exc.detail, **exc.extra)


def on_validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else []
    fields = "；".join(_describe(e) for e in errors) or "请求内容格式不正确"
    return problem_response(request, "invalid-input", f"提交的内容有误：{fields}。", errors=errors)


def _describe(error: Any) -> str:
    if isinstance(error, dict):
        key = error.get("key") or ""
        message = str(error.get("message", ""))
        return f"{key} {message}".strip()
    return str(error)


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("server error on %s %s", request.method, request.url.path, exc_info=exc)
    slug = _HTTP_SLUGS.get(status, "internal-error" if status >= 500 else "invalid-input")
    detail = _HTTP_DETAILS.get(status, exc.detail if status < 500 else "系统内部错误，请稍后再试。")
    if status == 403 and "CSRF" in str(exc.detail):
        detail = "页面已过期或来源不明，请刷新页面后重试。"
    response = problem_response(request, slug, detail)
    if status == 405 and getattr(exc, "headers", None):
        response.headers.update(exc.headers or {})
    return response


def on_integrity_error(request: Request[Any, Any, Any], exc: IntegrityError) -> Response[Any]:
    log.info("integrity conflict on %s: %s", request.url.path, exc.orig)
    return problem_response(
        request, "conflict", "该记录与已有记录冲突（可能已被他人同时修改），请刷新后重试。"
    )


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request, "internal-error", "系统内部错误，请稍后再试；如持续出现请联系管理员。"
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: on_domain_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    IntegrityError: on_integrity_error,
    Exception: on_unexpected,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem_response"]

"""Domain errors and their one translation into RFC 9457 problem details.

Domain code raises a `DomainError` subclass with a stable slug and a Chinese detail; the
handlers in `app.core.problems` turn it into `application/problem+json` for programs and a
Chinese error page for people. Every slug is listed in docs/problems.md.
"""

from __future__ import annotations

from typing import Any, ClassVar

#: slug -> (HTTP status, Chinese title). The contract documented in docs/problems.md.
PROBLEMS: dict[str, tuple[int, str]] = {
    "invalid-input": (422, "提交的内容有误"),
    "rule-violation": (422, "不符合业务规则"),
    "invalid-parent": (422, "上级单位不正确"),
    "invalid-post": (422, "职务设置不正确"),
    "invalid-dates": (422, "日期不正确"),
    "tenure-overlap": (422, "任职时间重叠"),
    "calendar-invalid": (422, "节假日安排不正确"),
    "illegal-transition": (422, "当前状态不能进行该操作"),
    "recused": (422, "须回避"),
    "not-found": (404, "找不到该记录"),
    "conflict": (409, "与现有记录冲突"),
    "duplicate": (409, "记录已存在"),
    "tenure-referenced": (409, "该任职仍有未移交的事项"),
    "tenure-ended": (409, "任职已经结束"),
    "not-authenticated": (401, "请先登录"),
    "invalid-credentials": (401, "用户名或密码不正确"),
    "forbidden": (403, "无权进行此操作"),
    "out-of-scope": (403, "超出账号的管辖范围"),
    "too-many-attempts": (429, "尝试次数过多"),
    "method-not-allowed": (405, "不支持该请求方式"),
    "payload-too-large": (413, "提交的内容太大"),
    "pdf-unavailable": (503, "暂时无法生成 PDF"),
    "handover-refused": (422, "不能办理该离任交接"),
    "wrong-pin": (422, "签章密码不正确"),
    "signing-key-missing": (422, "尚未设置签章密码"),
    "stale-document": (409, "文件已更新"),
    "internal-error": (500, "系统内部错误"),
}


class DomainError(Exception):
    """A refusal a user can understand: it changes nothing and says why in Chinese."""

    slug: ClassVar[str] = "rule-violation"

    def __init__(self, detail: str, *, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.instance_slug = slug or self.slug
        if self.instance_slug not in PROBLEMS:
            raise KeyError(f"undocumented problem slug: {self.instance_slug}")
        self.extra = extra

    @property
    def status(self) -> int:
        return PROBLEMS[self.instance_slug][0]

    @property
    def title(self) -> str:
        return PROBLEMS[self.instance_slug][1]


class RuleViolation(DomainError):
    slug = "rule-violation"


class InvalidInput(DomainError):
    slug = "invalid-input"


class NotFound(DomainError):
    slug = "not-found"


class Conflict(DomainError):
    slug = "conflict"


class Forbidden(DomainError):
    slug = "forbidden"


class NotAuthenticated(DomainError):
    slug = "not-authenticated"


class TooManyAttempts(DomainError):
    slug = "too-many-attempts"

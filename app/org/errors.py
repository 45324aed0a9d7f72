from __future__ import annotations

from app.core.errors import DomainError


class InvalidParent(DomainError):
    slug = "invalid-parent"


class InvalidPost(DomainError):
    slug = "invalid-post"


class InvalidDates(DomainError):
    slug = "invalid-dates"


class TenureOverlap(DomainError):
    slug = "tenure-overlap"


class TenureReferenced(DomainError):
    slug = "tenure-referenced"


class TenureAlreadyEnded(DomainError):
    slug = "tenure-ended"


class Duplicate(DomainError):
    slug = "duplicate"

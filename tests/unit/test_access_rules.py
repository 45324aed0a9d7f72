"""Pure rules: tokens, scope reach, unit tree and tenure spans."""

from __future__ import annotations

import datetime as dt

from app.core.auth import tokens
from app.core.auth.access import Grant, Principal
from app.core.auth.roles import Role
from app.org import rules
from app.org.rules import ReceptionRole, Span, UnitKind

KEY = b"k" * 32


def test_a_token_reads_back_until_it_expires() -> None:
    token = tokens.issue(KEY, 7, issued_at=1000, ttl_seconds=60)
    assert tokens.read(KEY, token, now=1059) == tokens.TokenClaims(7, 1000, 1060)
    assert tokens.read(KEY, token, now=1060) is None


def test_a_token_with_a_changed_account_or_key_is_refused() -> None:
    token = tokens.issue(KEY, 7, issued_at=1000, ttl_seconds=60)
    assert tokens.read(KEY, token.replace("v1.7.", "v1.8."), now=1001) is None
    assert tokens.read(b"x" * 32, token, now=1001) is None
    assert tokens.read(KEY, "garbage", now=1001) is None


def test_a_grant_reaches_its_subtree_only() -> None:
    clerk = Principal(1, "c", "c", None, (Grant(Role.clerk, 2, "/1/2/"),))
    assert clerk.reaches({Role.clerk}, "/1/2/15/")
    assert not clerk.reaches({Role.clerk}, "/1/3/")
    assert not clerk.reaches({Role.admin}, "/1/2/15/")
    assert clerk.scope_paths({Role.clerk}) == ["/1/2/"]


def test_a_deployment_wide_grant_reaches_everything() -> None:
    root = Principal(1, "r", "r", None, (Grant(Role.admin, None, None),))
    assert root.reaches({Role.admin}, "/9/") and root.scope_paths({Role.admin}) is None


def test_villages_sit_under_townships_and_not_under_counties() -> None:
    assert rules.parent_problem(UnitKind.village, UnitKind.township) is None
    assert rules.parent_problem(UnitKind.village, UnitKind.county) == "村不能设在县（区、市）之下"
    assert rules.parent_problem(UnitKind.village, UnitKind.department) is not None
    assert rules.parent_problem(UnitKind.township, None) == "乡镇必须有上级单位"


def test_a_street_has_the_three_main_posts_under_its_own_titles() -> None:
    titles = rules.MAIN_POST_TITLES[UnitKind.street]
    assert titles[ReceptionRole.township_secretary] == "党工委书记"
    assert rules.role_problem(ReceptionRole.township_head, UnitKind.street) is None
    assert rules.role_problem(ReceptionRole.village_secretary, UnitKind.county) is not None


def test_a_successor_starting_on_the_end_day_does_not_overlap() -> None:
    before = Span(dt.date(2020, 1, 1), dt.date(2023, 6, 15))
    assert not before.overlaps(Span(dt.date(2023, 6, 15)))
    assert before.overlaps(Span(dt.date(2023, 6, 14)))
    assert Span(dt.date(2023, 6, 15)).contains(dt.date(2030, 1, 1))
    assert not before.contains(dt.date(2023, 6, 15))

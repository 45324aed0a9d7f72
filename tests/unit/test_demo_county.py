"""The demo county: deterministic, well formed by the organisation rules, and complete
enough for every reception rule and every staff role to have something to work on."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import pytest

from app.org.rules import (
    MAIN_POST_TITLES,
    ReceptionRole,
    Span,
    UnitKind,
    parent_problem,
    role_problem,
)
from fixtures.demo_county import (
    DEMO_PASSWORD,
    PORTFOLIO_TAGS,
    DemoCounty,
    DemoTenure,
    DemoUnit,
    generate,
)

MAIN_ROLES = frozenset(
    {
        ReceptionRole.township_secretary,
        ReceptionRole.township_head,
        ReceptionRole.township_congress,
    }
)
VILLAGE_KINDS = frozenset({UnitKind.village, UnitKind.community})
ROLES = (
    "admin",
    "clerk",
    "leader",
    "unit_handler",
    "supervisor",
    "office",
    "reviewer_discipline",
    "reviewer_organisation",
    "reviewer_petition",
)


@pytest.fixture(scope="module")
def county() -> DemoCounty:
    return generate()


def units_of(county: DemoCounty, *kinds: UnitKind) -> list[DemoUnit]:
    return [unit for unit in county.units if unit.kind in kinds]


def current(county: DemoCounty) -> list[DemoTenure]:
    return [tenure for tenure in county.tenures if tenure.end is None]


def current_roles_by_unit(county: DemoCounty) -> dict[str, list[ReceptionRole]]:
    posts = {post.key: post for post in county.posts}
    roles: dict[str, list[ReceptionRole]] = defaultdict(list)
    for tenure in current(county):
        roles[posts[tenure.post].unit].append(posts[tenure.post].role)
    return roles


def test_the_same_seed_gives_an_equal_county() -> None:
    assert generate() == generate()
    assert generate(7) == generate(7)


def test_another_seed_changes_the_names_but_not_the_size(county: DemoCounty) -> None:
    other = generate(7)
    assert other.persons != county.persons
    assert len(other.units) == len(county.units)
    assert len(other.posts) == len(county.posts)


def test_the_city_and_the_county_head_the_tree(county: DemoCounty) -> None:
    city, county_unit = county.units[:2]
    assert (city.code, city.name, city.kind, city.parent) == ("339900", "云江市", "city", None)
    assert (county_unit.code, county_unit.name, county_unit.kind) == ("339921", "青溪县", "county")
    assert county_unit.parent == city.key
    assert county.county == county_unit.key
    assert county.deployment == "yunjiang"


def test_about_twenty_five_county_leaders_are_in_post(county: DemoCounty) -> None:
    leader_posts = {p.key for p in county.posts if p.role is ReceptionRole.county_leader}
    leaders = {t.person for t in current(county) if t.post in leader_posts}
    assert 22 <= len(leaders) <= 28


def test_county_leaders_have_one_to_three_known_portfolio_tags(county: DemoCounty) -> None:
    leader_posts = {p.key for p in county.posts if p.role is ReceptionRole.county_leader}
    for tenure in county.tenures:
        if tenure.post in leader_posts:
            assert 1 <= len(tenure.portfolio) <= 3
            assert set(tenure.portfolio) <= set(PORTFOLIO_TAGS)


def test_twelve_townships_and_streets_have_their_three_main_posts(county: DemoCounty) -> None:
    townships = units_of(county, UnitKind.township, UnitKind.street)
    assert Counter(u.kind for u in townships) == {UnitKind.township: 8, UnitKind.street: 4}
    for unit in townships:
        posts = [p for p in county.posts if p.unit == unit.key]
        assert {p.role: p.title for p in posts} == MAIN_POST_TITLES[unit.kind]
        assert all(p.single_holder for p in posts)


def test_110_to_130_villages_and_communities_each_have_a_secretary_and_a_deputy(
    county: DemoCounty,
) -> None:
    villages = units_of(county, *VILLAGE_KINDS)
    assert 110 <= len(villages) <= 130
    roles = current_roles_by_unit(county)
    for unit in villages:
        assert sorted(roles[unit.key]) == sorted(
            [ReceptionRole.village_secretary, ReceptionRole.village_deputy]
        )


def test_ten_departments_each_have_one_or_two_staffed_posts(county: DemoCounty) -> None:
    departments = units_of(county, UnitKind.department)
    assert len(departments) == 10
    assert "县信访局" in {d.name for d in departments}
    roles = current_roles_by_unit(county)
    for unit in departments:
        assert roles[unit.key] in ([ReceptionRole.none], [ReceptionRole.none] * 2)


def test_every_unit_sits_under_an_allowed_parent(county: DemoCounty) -> None:
    kinds = {unit.key: unit.kind for unit in county.units}
    for unit in county.units:
        parent_kind = kinds[unit.parent] if unit.parent else None
        assert parent_problem(unit.kind, parent_kind) is None, unit


def test_every_post_role_is_allowed_at_its_unit(county: DemoCounty) -> None:
    kinds = {unit.key: unit.kind for unit in county.units}
    for post in county.posts:
        assert role_problem(post.role, kinds[post.unit]) is None, post


def test_parents_are_listed_before_their_children(county: DemoCounty) -> None:
    seen: set[str] = set()
    for unit in county.units:
        assert unit.parent is None or unit.parent in seen, unit
        seen.add(unit.key)


def test_posts_and_tenures_refer_to_what_exists(county: DemoCounty) -> None:
    units = {unit.key for unit in county.units}
    posts = {post.key for post in county.posts}
    persons = {person.key for person in county.persons}
    assert all(post.unit in units for post in county.posts)
    assert all(t.person in persons and t.post in posts for t in county.tenures)
    assert len(posts) == len(county.posts)
    assert len(units) == len(county.units)


def test_unit_codes_are_unique_and_extend_their_parents_code(county: DemoCounty) -> None:
    codes = {unit.key: unit.code for unit in county.units}
    assert len(set(codes.values())) == len(county.units)
    for unit in units_of(county, UnitKind.township, UnitKind.street, *VILLAGE_KINDS):
        assert unit.parent is not None
        assert unit.code.startswith(codes[unit.parent])
        assert unit.code.isdigit()
        assert len(unit.code) == len(codes[unit.parent]) + 3


def test_person_names_are_unique_chinese_names_of_two_or_three_characters(
    county: DemoCounty,
) -> None:
    names = [person.name for person in county.persons]
    assert len(set(names)) == len(names)
    assert all(2 <= len(name) <= 3 for name in names)
    assert {person.gender for person in county.persons} == {"男", "女"}


def test_two_persons_hold_two_township_main_posts_at_once(county: DemoCounty) -> None:
    posts = {post.key: post for post in county.posts if post.role in MAIN_ROLES}
    held: dict[str, list[str]] = defaultdict(list)
    for tenure in current(county):
        if tenure.post in posts:
            held[tenure.person].append(tenure.post)
    doubled = [sorted(keys) for keys in held.values() if len(keys) > 1]
    assert len(doubled) == 2
    kinds = {unit.key: unit.kind for unit in county.units}
    for secretary, congress in (sorted(keys, key=lambda k: posts[k].role) for keys in doubled):
        assert posts[secretary].unit == posts[congress].unit
        assert kinds[posts[secretary].unit] is UnitKind.township
        assert {posts[secretary].title, posts[congress].title} == {"党委书记", "人大主席"}


def test_no_single_holder_post_has_overlapping_tenures(county: DemoCounty) -> None:
    single = {post.key for post in county.posts if post.single_holder}
    spans: dict[str, list[Span]] = defaultdict(list)
    for tenure in county.tenures:
        if tenure.post in single:
            spans[tenure.post].append(Span(tenure.start, tenure.end))
    for post, post_spans in spans.items():
        for i, span in enumerate(post_spans):
            assert not any(span.overlaps(other) for other in post_spans[i + 1 :]), post


def test_every_single_holder_post_has_exactly_one_current_holder(county: DemoCounty) -> None:
    holders = Counter(tenure.post for tenure in current(county))
    for post in county.posts:
        if post.single_holder:
            assert holders[post.key] == 1, post


def test_current_tenures_start_between_2019_and_2025_and_ended_ones_end_after_start(
    county: DemoCounty,
) -> None:
    for tenure in county.tenures:
        if tenure.end is None:
            assert date(2019, 1, 1) <= tenure.start <= date(2025, 12, 31), tenure
        else:
            assert tenure.start < tenure.end, tenure


def test_history_has_a_township_secretary_succeeded_on_the_day_the_predecessor_left(
    county: DemoCounty,
) -> None:
    secretaries = {p.key for p in county.posts if p.role is ReceptionRole.township_secretary}
    ended = [t for t in county.tenures if t.post in secretaries and t.end is not None]
    assert ended
    for old in ended:
        assert any(
            t.post == old.post and t.start == old.end and t.end is None for t in county.tenures
        )


def test_some_person_moved_from_one_post_to_another(county: DemoCounty) -> None:
    tenures_by_person: dict[str, list[DemoTenure]] = defaultdict(list)
    for tenure in county.tenures:
        tenures_by_person[tenure.person].append(tenure)
    moves = [
        (a, b)
        for tenures in tenures_by_person.values()
        for a in tenures
        for b in tenures
        if a.end is not None and a.end == b.start and a.post != b.post
    ]
    assert len(moves) >= 2


def test_there_is_one_account_per_role_all_with_the_demo_password(county: DemoCounty) -> None:
    assert sorted(role for a in county.accounts for role in a.roles) == sorted(ROLES)
    assert [a.username for a in county.accounts] == [
        "admin",
        "clerk",
        "leader",
        "handler",
        "supervisor",
        "office",
        "jiwei",
        "zuzhi",
        "xinfang",
    ]
    assert {a.password for a in county.accounts} == {DEMO_PASSWORD} == {"jiefang-demo"}


def test_account_scopes_are_the_county_or_the_human_resources_bureau(county: DemoCounty) -> None:
    names = {unit.key: unit.name for unit in county.units}
    for account in county.accounts:
        expected = "县人力资源和社会保障局" if account.roles == ("unit_handler",) else "青溪县"
        assert names[account.scope] == expected, account


def test_the_leader_account_belongs_to_a_current_county_leader(county: DemoCounty) -> None:
    (leader,) = [a for a in county.accounts if a.roles == ("leader",)]
    leader_posts = {p.key for p in county.posts if p.role is ReceptionRole.county_leader}
    assert any(t.person == leader.person and t.post in leader_posts for t in current(county))
    person = next(p for p in county.persons if p.key == leader.person)
    assert person.name in leader.display_name
    others = [a for a in county.accounts if a is not leader and a.username != "office"]
    assert all(a.person is None for a in others)


def test_the_office_account_has_a_person_of_its_own_to_sign_handovers(
    county: DemoCounty,
) -> None:
    (office,) = [a for a in county.accounts if a.roles == ("office",)]
    person = next(p for p in county.persons if p.key == office.person)
    assert person.name in office.display_name
    assert not any(t.person == person.key for t in county.tenures)

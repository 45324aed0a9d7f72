"""The province, made in memory: 11 cities, N counties, each with departments, townships
(乡镇 and 街道) and their villages (村 and 社区), and its officials — persons, posts and
tenures — with the ids the rows get and the ledger entries `app.org.services` would have
written for them (`create_unit`, `create_person`, `create_post`, `appoint`).

Each county has 222 officials: 20 county leaders (13 single posts and 7 副县长), 25
department heads and 9 deputies, the three main leaders and a deputy of each of its 14
townships, and a secretary for each of its 112 villages; officials beyond 222 × counties
are further 副县长, one per county from the first. 90 counties make 19,980 officials, so
20,000 adds one 副县长 to each of the first 20 counties.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from app.org.rules import MAIN_POST_TITLES, ReceptionRole, UnitKind
from app.org.services import (
    PERSON_CREATED,
    POST_CREATED,
    TENURE_STARTED,
    UNIT_CREATED,
)
from bench.roster.names import (
    COMMUNITY_HEADS,
    COMMUNITY_TAILS,
    FEMALE_GIVEN,
    TOWNSHIPS,
    VILLAGE_HEADS,
    VILLAGE_TAILS,
    PersonNames,
    place_names,
)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


CITIES: Final = _words(
    "杭州市 宁波市 温州市 嘉兴市 湖州市 绍兴市 金华市 衢州市 舟山市 台州市 丽水市"
)
DEPARTMENTS: Final = _words(
    "信访局 纪委监委 组织部 公安局 人力资源和社会保障局 自然资源和规划局 住房和城乡建设局 "
    "农业农村局 市场监督管理局 教育局 卫生健康局 民政局 交通运输局 生态环境分局 司法局 "
    "财政局 水利局 综合行政执法局 应急管理局 退役军人事务局 商务局 文化广电旅游体育局 "
    "医疗保障局 发展和改革局 经济和信息化局"
)
#: Departments that also have a deputy head (副局长).
DEPUTY_DEPARTMENTS: Final = 9
COUNTY_SINGLE_POSTS: Final = _words(
    "县委书记 县长 县委副书记 常务副县长 县纪委书记 县委组织部部长 县委宣传部部长 "
    "县委政法委书记 县委统战部部长 县委办公室主任 县人大常委会主任 县政协主席 县人武部政委"
)
VICE_HEAD: Final = "副县长"
VICE_HEADS: Final = 7
TOWNSHIPS_PER_COUNTY: Final = 14
VILLAGES_PER_TOWNSHIP: Final = 8
OFFICIALS_PER_COUNTY: Final = (
    len(COUNTY_SINGLE_POSTS)
    + VICE_HEADS
    + len(DEPARTMENTS)
    + DEPUTY_DEPARTMENTS
    + TOWNSHIPS_PER_COUNTY * 4
    + TOWNSHIPS_PER_COUNTY * VILLAGES_PER_TOWNSHIP
)
PORTFOLIOS: Final = _words(
    "土地征收 劳动社保 城建住房 生态环境 教育医疗 农业农村 交通运输 市场监管 民政救助 涉法涉诉"
)
COUNTY_NAME_HEADS: Final = _words("安 永 长 临 平 泰 嘉 德 宁 新 青 云 开 武 景 兴 庆 玉 文 龙")
COUNTY_NAME_TAILS: Final = _words("溪 江 山 阳 川 化 海 昌 城 和 源 丰 清 田 康 乐")
FEMALE: Final = frozenset(FEMALE_GIVEN)


@dataclass(frozen=True, slots=True)
class Draft:
    """A ledger entry before it has a `seq`: what `ledger.append` would be given."""

    at: dt.datetime
    actor: dict[str, Any]
    action: str
    subject_type: str
    subject_id: str
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class UnitRow:
    id: int
    parent_id: int | None
    county_id: int | None
    kind: str
    code: str
    name: str
    path: str


@dataclass(frozen=True, slots=True)
class Official:
    """A person holding one post (one tenure) at a unit."""

    person_id: int
    tenure_id: int
    post_id: int
    unit_id: int
    name: str
    title: str


@dataclass
class CountyOrg:
    """One county: what the case generator needs to know of its organisation."""

    index: int
    unit: UnitRow
    city_id: int
    departments: list[UnitRow] = field(default_factory=list)
    townships: list[UnitRow] = field(default_factory=list)
    villages: list[UnitRow] = field(default_factory=list)
    leaders: list[Official] = field(default_factory=list)  # county leaders
    township_main: dict[int, list[Official]] = field(default_factory=dict)
    department_heads: dict[int, Official] = field(default_factory=dict)
    others: list[Official] = field(default_factory=list)  # deputies, village secretaries
    drafts: list[Draft] = field(default_factory=list)  # the county ledger's org entries

    @property
    def id(self) -> int:
        return self.unit.id

    @property
    def code(self) -> str:
        return self.unit.code

    def township_of(self, unit_id: int) -> int | None:
        for village in self.villages:
            if village.id == unit_id:
                return village.parent_id
        return unit_id if any(t.id == unit_id for t in self.townships) else None


@dataclass
class Province:
    unit: UnitRow
    cities: list[UnitRow]
    counties: list[CountyOrg]
    units: list[tuple[Any, ...]] = field(default_factory=list)
    persons: list[tuple[Any, ...]] = field(default_factory=list)
    posts: list[tuple[Any, ...]] = field(default_factory=list)
    tenures: list[tuple[Any, ...]] = field(default_factory=list)
    admin_drafts: list[Draft] = field(default_factory=list)  # the administration ledger's

    @property
    def officials(self) -> int:
        return len(self.tenures)


UNIT_COLUMNS: Final = _words("id parent_id county_id kind code name path created_at updated_at")
PERSON_COLUMNS: Final = _words("id county_id name gender created_at updated_at")
POST_COLUMNS: Final = _words("id unit_id title reception_role single_holder created_at")
TENURE_COLUMNS: Final = _words(
    "id person_id post_id start_date end_date end_reason portfolio created_at updated_at"
)


class _Ids:
    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, table: str) -> int:
        self.last[table] = self.last.get(table, 0) + 1
        return self.last[table]


class _Clock:
    """Org records are entered one second apart from `start` on."""

    def __init__(self, start: dt.datetime) -> None:
        self.at = start

    def tick(self) -> dt.datetime:
        self.at += dt.timedelta(seconds=1)
        return self.at


@dataclass
class _Builder:
    rng: random.Random
    actor: dict[str, Any]
    clock: _Clock
    ids: _Ids = field(default_factory=_Ids)
    province: Province | None = None

    def unit(
        self, parent: UnitRow | None, kind: UnitKind, code: str, name: str, drafts: list[Draft]
    ) -> UnitRow:
        uid = self.ids.next("units")
        county_id = uid if kind is UnitKind.county else (parent.county_id if parent else None)
        path = f"{parent.path if parent else '/'}{uid}/"
        row = UnitRow(uid, parent.id if parent else None, county_id, str(kind), code, name, path)
        at = self.clock.tick()
        assert self.province is not None
        self.province.units.append(
            (uid, row.parent_id, county_id, row.kind, code, name, path, at, at)
        )
        payload = {"kind": row.kind, "code": code, "name": name, "parent": row.parent_id}
        drafts.append(Draft(at, self.actor, UNIT_CREATED, "unit", str(uid), payload))
        return row

    def post(
        self, county: CountyOrg, unit: UnitRow, title: str, role: ReceptionRole, single: bool
    ) -> int:
        pid = self.ids.next("posts")
        at = self.clock.tick()
        assert self.province is not None
        self.province.posts.append((pid, unit.id, title, str(role), single, at))
        payload = {
            "unit": unit.id,
            "title": title,
            "reception_role": str(role),
            "single_holder": single,
        }
        county.drafts.append(Draft(at, self.actor, POST_CREATED, "post", str(pid), payload))
        return pid

    def official(
        self,
        county: CountyOrg,
        names: PersonNames,
        unit: UnitRow,
        post_id: int,
        title: str,
        portfolio: list[str],
    ) -> Official:
        assert self.province is not None
        name = names.next()
        person_id = self.ids.next("persons")
        at = self.clock.tick()
        gender = "女" if name[1:] in FEMALE else "男"
        self.province.persons.append((person_id, county.id, name, gender, at, at))
        county.drafts.append(
            Draft(at, self.actor, PERSON_CREATED, "person", str(person_id), {"county": county.id})
        )
        tenure_id = self.ids.next("tenures")
        start = (at - dt.timedelta(days=self.rng.randint(30, 5 * 365))).date()
        at = self.clock.tick()
        self.province.tenures.append(
            (tenure_id, person_id, post_id, start, None, None, portfolio, at, at)
        )
        payload = {
            "person": person_id,
            "post": post_id,
            "start_date": start.isoformat(),
            "portfolio": list(portfolio),
        }
        county.drafts.append(
            Draft(at, self.actor, TENURE_STARTED, "tenure", str(tenure_id), payload)
        )
        return Official(person_id, tenure_id, post_id, unit.id, name, title)


def _county_codes(counties: int) -> Iterator[tuple[int, str]]:
    """(city index, 6-digit code) of each county, spread over the cities."""
    per_city = [
        counties // len(CITIES) + (1 if k < counties % len(CITIES) else 0)
        for k in range(len(CITIES))
    ]
    for city, n in enumerate(per_city):
        for k in range(n):
            yield city, f"33{city + 1:02d}{k + 1:02d}"


def build(
    counties: int, officials: int, seed: int, start: dt.datetime, actor: dict[str, Any]
) -> Province:
    """The province, deterministically from `seed`; records are entered from `start` on."""
    if officials < OFFICIALS_PER_COUNTY * counties:
        raise ValueError(f"--officials must be at least {OFFICIALS_PER_COUNTY} per county")
    rng = random.Random(seed)
    b = _Builder(rng, actor, _Clock(start))
    admin: list[Draft] = []
    b.province = Province(UnitRow(0, None, None, "", "", "", ""), [], [])
    province = b.unit(None, UnitKind.province, "330000", "浙江省", admin)
    b.province.unit = province
    cities = [
        b.unit(province, UnitKind.city, f"33{k + 1:02d}00", name, admin)
        for k, name in enumerate(CITIES)
    ]
    b.province.cities = cities
    names = place_names(rng, counties, COUNTY_NAME_HEADS, COUNTY_NAME_TAILS, "县")
    extra = officials - OFFICIALS_PER_COUNTY * counties
    for index, (city, code) in enumerate(_county_codes(counties)):
        vice = VICE_HEADS + extra // counties + (1 if index < extra % counties else 0)
        county = _county(b, index, cities[city], code, names[index], vice)
        b.province.counties.append(county)
    b.province.admin_drafts = admin
    return b.province


def _county(
    b: _Builder,
    index: int,
    city: UnitRow,
    code: str,
    name: str,
    vice_heads: int,
) -> CountyOrg:
    drafts: list[Draft] = []
    # The county unit is its ledger's entry 0; `generate` opens the ledger and records
    # that in the administration ledger (`ledger.opened`), as `create_unit` does.
    unit = b.unit(city, UnitKind.county, code, name, drafts)
    county = CountyOrg(index, unit, city.id, drafts=drafts)
    for k, dept in enumerate(DEPARTMENTS):
        county.departments.append(
            b.unit(unit, UnitKind.department, f"{code}9{k + 1:02d}", f"{name}{dept}", drafts)
        )
    rng = b.rng
    for k, town in enumerate(rng.sample(TOWNSHIPS, TOWNSHIPS_PER_COUNTY)):
        street = town.endswith("街道")
        kind = UnitKind.street if street else UnitKind.township
        township = b.unit(unit, kind, f"{code}{k + 1:03d}", town, drafts)
        county.townships.append(township)
        heads, tails = (
            (COMMUNITY_HEADS, COMMUNITY_TAILS) if street else (VILLAGE_HEADS, VILLAGE_TAILS)
        )
        suffix, vkind = ("社区", UnitKind.community) if street else ("村", UnitKind.village)
        for v, vname in enumerate(place_names(rng, VILLAGES_PER_TOWNSHIP, heads, tails, suffix)):
            county.villages.append(
                b.unit(township, vkind, f"{code}{k + 1:03d}{v + 1:03d}", vname, drafts)
            )
    _officials(b, county, vice_heads)
    return county


def _officials(b: _Builder, county: CountyOrg, vice_heads: int) -> None:
    rng, unit = b.rng, county.unit
    names = PersonNames(random.Random(rng.random()))
    posts: list[tuple[UnitRow, int, str]] = []
    for title in COUNTY_SINGLE_POSTS:
        posts.append((unit, b.post(county, unit, title, ReceptionRole.county_leader, True), title))
    vice = b.post(county, unit, VICE_HEAD, ReceptionRole.county_leader, False)
    posts += [(unit, vice, VICE_HEAD)] * vice_heads
    for n, dept in enumerate(county.departments):
        posts.append((dept, b.post(county, dept, "局长", ReceptionRole.none, True), "局长"))
        if n < DEPUTY_DEPARTMENTS:
            posts.append((dept, b.post(county, dept, "副局长", ReceptionRole.none, True), "副局长"))
    for town in county.townships:
        for role, title in MAIN_POST_TITLES[UnitKind(town.kind)].items():
            posts.append((town, b.post(county, town, title, role, True), title))
        deputy = "副镇长" if town.kind == UnitKind.township else "办事处副主任"
        posts.append((town, b.post(county, town, deputy, ReceptionRole.none, True), deputy))
    for village in county.villages:
        title = "村党组织书记" if village.kind == UnitKind.village else "社区党组织书记"
        posts.append(
            (village, b.post(county, village, title, ReceptionRole.village_secretary, True), title)
        )
    for where, post_id, title in posts:
        portfolio = rng.sample(PORTFOLIOS, 2) if where is unit else []
        official = b.official(county, names, where, post_id, title, portfolio)
        _file(county, where, official)


def _file(county: CountyOrg, where: UnitRow, official: Official) -> None:
    if where is county.unit:
        county.leaders.append(official)
    elif where.kind == UnitKind.department and official.title == "局长":
        county.department_heads[where.id] = official
    elif where.kind in {UnitKind.township, UnitKind.street} and official.title in set(
        MAIN_POST_TITLES[UnitKind(where.kind)].values()
    ):
        county.township_main.setdefault(where.id, []).append(official)
    else:
        county.others.append(official)

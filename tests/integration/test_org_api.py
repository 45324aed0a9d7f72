"""People, posts and units through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.org.models import Tenure, Unit
from tests.integration.conftest import County, bearer

Client = AsyncTestClient[Litestar]


async def unit_count(factory: async_sessionmaker[AsyncSession]) -> int:
    async with factory() as db:
        return int(await db.scalar(select(func.count()).select_from(Unit)) or 0)


async def test_an_admin_adds_a_township_to_their_county(client: Client, county: County) -> None:
    headers = await bearer(client, "admin")
    response = await client.post(
        "/api/v1/units",
        headers=headers,
        json={
            "kind": "township",
            "code": "990001009",
            "name": "新安镇",
            "parent_id": county.county,
        },
    )
    assert response.status_code == 201
    created = response.json()
    assert created["county_id"] == county.county
    assert created["path"].startswith(f"/{county.county}/")
    listed = await client.get(f"/api/v1/units?parent_id={county.county}", headers=headers)
    assert "新安镇" in [u["name"] for u in listed.json()]


async def test_a_village_under_the_county_is_refused_and_nothing_changes(
    client: Client, county: County, factory: async_sessionmaker[AsyncSession]
) -> None:
    before = await unit_count(factory)
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "admin"),
        json={"kind": "village", "code": "X9", "name": "错村", "parent_id": county.county},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == "/problems/invalid-parent"
    assert "村不能设在" in problem["detail"]
    assert await unit_count(factory) == before


async def test_an_unknown_parent_is_a_clear_422(client: Client, county: County) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "root"),
        json={"kind": "township", "code": "X8", "name": "无名镇", "parent_id": 987654},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "上级单位 987654 不存在。"


async def test_a_duplicate_unit_code_is_a_conflict(client: Client, county: County) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "admin"),
        json={
            "kind": "township",
            "code": "990001001",
            "name": "重复镇",
            "parent_id": county.county,
        },
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/duplicate"


async def test_malformed_input_is_a_422_problem_naming_the_field(
    client: Client, county: County
) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "admin"),
        json={"kind": "castle", "code": "1", "name": "x", "parent_id": county.county},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["key"] == "kind"


async def test_overlapping_tenures_of_a_single_holder_post_are_refused(
    client: Client, county: County, factory: async_sessionmaker[AsyncSession]
) -> None:
    headers = await bearer(client, "admin")
    person = await client.post(
        "/api/v1/persons",
        headers=headers,
        json={"name": "李卫东", "gender": "男", "county_id": county.county},
    )
    response = await client.post(
        "/api/v1/tenures",
        headers=headers,
        json={
            "person_id": person.json()["id"],
            "post_id": county.secretary_post,
            "start_date": "2025-06-01",
        },
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/tenure-overlap"
    assert "张建华" in response.json()["detail"]
    async with factory() as db:
        assert await db.scalar(select(func.count()).select_from(Tenure)) == 1


async def test_one_person_may_hold_two_posts_at_once(client: Client, county: County) -> None:
    """党委书记兼人大主席: two tenures of one person at the same time."""
    headers = await bearer(client, "admin")
    response = await client.post(
        "/api/v1/tenures",
        headers=headers,
        json={
            "person_id": county.person,
            "post_id": county.deputy_post,
            "start_date": "2025-01-01",
            "portfolio": ["土地征收", "土地征收", "劳动社保"],
        },
    )
    assert response.status_code == 201
    assert response.json()["portfolio"] == ["土地征收", "劳动社保"]
    tenures = await client.get(f"/api/v1/persons/{county.person}/tenures", headers=headers)
    assert {t["post_title"] for t in tenures.json()} == {"党委书记", "乡镇长"}


async def test_a_successor_starts_on_the_day_the_predecessor_leaves(
    client: Client, county: County
) -> None:
    headers = await bearer(client, "admin")
    refused = await client.post(
        f"/api/v1/tenures/{county.tenure}/end",
        headers=headers,
        json={"end_date": "2026-03-10", "reason": "调任"},
    )
    assert refused.status_code == 409
    assert "信访工作离任交接" in refused.json()["detail"]
    # The admin may lift the requirement for a post; then it ends as any other tenure.
    marked = await client.put(
        f"/api/v1/posts/{county.secretary_post}/handover-required",
        headers=headers,
        json={"required": False},
    )
    assert marked.status_code == 200
    ended = await client.post(
        f"/api/v1/tenures/{county.tenure}/end",
        headers=headers,
        json={"end_date": "2026-03-10", "reason": "调任"},
    )
    assert ended.status_code == 200
    assert ended.json()["end_date"] == "2026-03-10"
    person = await client.post(
        "/api/v1/persons", headers=headers, json={"name": "王丽华", "county_id": county.county}
    )
    successor = await client.post(
        "/api/v1/tenures",
        headers=headers,
        json={
            "person_id": person.json()["id"],
            "post_id": county.secretary_post,
            "start_date": "2026-03-10",
        },
    )
    assert successor.status_code == 201
    again = await client.post(
        f"/api/v1/tenures/{county.tenure}/end",
        headers=headers,
        json={"end_date": "2026-03-11", "reason": "调任"},
    )
    assert again.status_code == 409


async def test_ending_before_the_start_is_refused(client: Client, county: County) -> None:
    response = await client.post(
        f"/api/v1/tenures/{county.tenure}/end",
        headers=await bearer(client, "admin"),
        json={"end_date": "2023-01-01", "reason": "免职"},
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-dates"


async def test_a_post_role_must_fit_the_unit(client: Client, county: County) -> None:
    response = await client.post(
        "/api/v1/posts",
        headers=await bearer(client, "admin"),
        json={
            "unit_id": county.village,
            "title": "党委书记",
            "reception_role": "township_secretary",
        },
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-post"

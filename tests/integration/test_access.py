"""Unauthenticated, wrong-role and out-of-scope requests are refused, on both databases."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import PASSWORD, County, bearer

Client = AsyncTestClient[Litestar]


async def test_an_anonymous_api_call_is_401_problem_json(client: Client, county: County) -> None:
    response = await client.get("/api/v1/units")
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/not-authenticated"


async def test_a_forged_token_is_refused(client: Client, county: County) -> None:
    response = await client.get(
        "/api/v1/units", headers={"Authorization": "Bearer v1.1.1.9999999999.forged"}
    )
    assert response.status_code == 401


async def test_a_clerk_cannot_create_units(client: Client, county: County) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "clerk"),
        json={"kind": "township", "code": "77", "name": "镇", "parent_id": county.county},
    )
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/forbidden"


async def test_a_reviewer_cannot_read_the_organisation(client: Client, county: County) -> None:
    response = await client.get("/api/v1/units", headers=await bearer(client, "jiwei"))
    assert response.status_code == 403


async def test_an_admin_of_another_county_is_out_of_scope(client: Client, county: County) -> None:
    response = await client.post(
        "/api/v1/units",
        headers=await bearer(client, "neighbour"),
        json={"kind": "township", "code": "78", "name": "越界镇", "parent_id": county.county},
    )
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/out-of-scope"


async def test_a_township_admin_cannot_touch_a_sibling_street(
    client: Client, county: County
) -> None:
    headers = await bearer(client, "towner")
    inside = await client.post(
        "/api/v1/units",
        headers=headers,
        json={"kind": "village", "code": "79", "name": "下塘村", "parent_id": county.township},
    )
    outside = await client.patch(
        f"/api/v1/units/{county.street}", headers=headers, json={"name": "改名"}
    )
    assert inside.status_code == 201
    assert outside.status_code == 403


async def test_listing_shows_only_the_top_of_the_callers_scope(
    client: Client, county: County
) -> None:
    mine = await client.get("/api/v1/units", headers=await bearer(client, "towner"))
    assert [u["name"] for u in mine.json()] == ["东山镇"]
    everything = await client.get("/api/v1/units", headers=await bearer(client, "root"))
    assert {"测试县", "邻县"} <= {u["name"] for u in everything.json()}


async def test_the_token_names_roles_and_scope(client: Client, county: County) -> None:
    me = await client.get("/api/v1/auth/me", headers=await bearer(client, "leader"))
    assert me.json()["grants"] == [
        {"role": "leader", "scope_unit_id": county.county, "scope_name": "测试县"}
    ]
    assert me.json()["person_id"] == county.person


async def test_repeated_wrong_passwords_lock_the_login_even_for_the_right_one(
    client: Client, county: County
) -> None:
    for _ in range(5):
        wrong = await client.post(
            "/api/v1/auth/token", json={"username": "clerk", "password": "nope-nope"}
        )
        assert wrong.status_code == 401
    locked = await client.post(
        "/api/v1/auth/token", json={"username": "clerk", "password": PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["type"] == "/problems/too-many-attempts"


async def test_pages_send_strangers_to_the_login_page(client: Client, county: County) -> None:
    response = await client.get("/admin/accounts", follow_redirects=False)
    assert response.status_code in {302, 303}
    assert response.headers["location"].startswith("/login?next=/admin/accounts")


async def test_a_signed_in_page_session_works_and_csrf_is_enforced(
    client: Client, county: County
) -> None:
    form = await client.get("/login")
    token = client.cookies.get("jiefang_csrf")
    assert token
    signed_in = await client.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/accounts",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert form.status_code == 200
    assert signed_in.status_code in {302, 303}
    accounts = await client.get("/admin/accounts")
    assert accounts.status_code == 200
    assert "towner" in accounts.text
    forged = await client.post("/logout", data={}, follow_redirects=False)
    assert forged.status_code == 403


async def test_the_openapi_schema_is_served(client: Client, county: County) -> None:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/units" in response.json()["paths"]

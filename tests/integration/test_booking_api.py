"""The booking API: sittings with free seats per slot, a booking by phone with its ledger
receipt, a lookup and cancellation by code and mobile number, and clean refusals."""

from __future__ import annotations

import datetime as dt

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.integration.conftest import bearer
from tests.integration.test_booking_services import resident

pytest_plugins = ["tests.integration.test_booking_services"]

DAY = dt.date(2026, 3, 5)


def body(sitting: int, n: int, **changes: object) -> dict[str, object]:
    return {
        "sitting_id": sitting,
        "slot_start": "08:30",
        "channel": "phone",
        "name": "陈小明",
        "mobile": f"1390000{n:04d}",
        "id_type": "resident",
        "id_number": resident(n),
        "topic": "土地征收",
        "summary": "反映征地补偿标准问题",
        **changes,
    }


async def test_sittings_list_their_free_seats_per_slot(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    answer = await client.get(
        "/api/v1/sittings", params={"from": DAY.isoformat(), "to": DAY.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    found = {s["id"]: s for s in answer.json()["sittings"]}
    mine = found[sitting]
    assert mine["date"] == DAY.isoformat() and mine["official"]
    assert mine["slots"][0] == {"start": "08:30", "end": "09:00", "seats_left": 2}
    assert mine["seats_left"] == sum(s["seats_left"] for s in mine["slots"])


async def test_a_clerk_books_by_phone_and_the_citizen_finds_and_cancels_it(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    headers = await bearer(client, "root")
    made = await client.post("/api/v1/bookings", json=body(sitting, 1), headers=headers)
    assert made.status_code == 201, made.text
    booking = made.json()
    assert booking["status"] == "booked" and len(booking["code"]) == 9
    assert booking["receipt"]["seq"] > 0 and len(booking["receipt"]["leaf_hash"]) == 64
    assert booking["id_masked"].startswith("330") and "*" in booking["id_masked"]
    url = f"/api/v1/bookings/{booking['code']}"
    wrong = await client.get(url, headers={"X-Citizen-Mobile": "13911112222"})
    assert wrong.status_code == 404
    assert wrong.headers["content-type"].startswith("application/problem+json")
    shown = await client.get(url, headers={"X-Citizen-Mobile": "13900000001"})
    assert shown.status_code == 200 and shown.json()["slot_start"] == "08:30"
    gone = await client.delete(url, headers={"X-Citizen-Mobile": "13900000001"})
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"


async def test_refusals_are_problems_that_book_nothing(
    client: AsyncTestClient[Litestar], sitting: int
) -> None:
    root = await bearer(client, "root")
    online = await client.post(
        "/api/v1/bookings", json=body(sitting, 2, channel="online"), headers=root
    )
    assert online.status_code == 422 and "短信验证码" in online.json()["detail"]
    outsider = await client.post(
        "/api/v1/bookings", json=body(sitting, 3), headers=await bearer(client, "clerk")
    )
    assert outsider.status_code == 403
    for n in (4, 5):
        assert (
            await client.post("/api/v1/bookings", json=body(sitting, n), headers=root)
        ).status_code == 201
    full = await client.post("/api/v1/bookings", json=body(sitting, 6), headers=root)
    assert full.status_code == 409 and "约满" in full.json()["detail"]

"""Phone bookings as a clerk makes them: every request for a different citizen, so the
per-citizen limits (one active booking per sitting, `per_month` a month) never refuse."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from app.core.identity import gb11643_check_char
from bench.booking.seed import Seat
from bench.booking.wire import Answer, Connection
from bench.roster.names import MALE_GIVEN, SURNAMES

BOOKINGS = "/api/v1/bookings"
ADDRESS_CODE = "330102"
FIRST_BIRTH = dt.date(1950, 1, 1)
PER_BIRTH_DAY = 1_000  # sequence codes 000–999


@dataclass(frozen=True, slots=True)
class Citizen:
    name: str
    id_number: str
    mobile: str


class Citizens:
    """Citizen n: a valid 18-digit 居民身份证 number (birth date and sequence code from n,
    GB 11643 check character) and the mobile 13xxxxxxxxx with n in its last nine digits."""

    def __init__(self) -> None:
        self.taken = 0

    def next(self) -> Citizen:
        n, self.taken = self.taken, self.taken + 1
        born = FIRST_BIRTH + dt.timedelta(days=n // PER_BIRTH_DAY)
        body = f"{ADDRESS_CODE}{born:%Y%m%d}{n % PER_BIRTH_DAY:03d}"
        name = SURNAMES[n % len(SURNAMES)] + MALE_GIVEN[n // len(SURNAMES) % len(MALE_GIVEN)]
        return Citizen(name, body + gb11643_check_char(body), f"13{n:09d}")


def booking_body(seat: Seat, citizen: Citizen) -> bytes:
    return msgspec.json.encode(
        {
            "sitting_id": seat.sitting,
            "slot_start": seat.slot,
            "channel": "phone",
            "name": citizen.name,
            "mobile": citizen.mobile,
            "id_type": "resident",
            "id_number": citizen.id_number,
            "topic": "土地征收",
            "summary": "反映征地补偿款发放问题",
            "party_size": 1,
        }
    )


class Bookings:
    """A `load.Send`: one phone booking of the next citizen for a random slot of `seats`."""

    def __init__(
        self, seats: Sequence[Seat], token: str, citizens: Citizens, rng: random.Random
    ) -> None:
        self.seats, self.citizens, self.rng = seats, citizens, rng
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def __call__(self, connection: Connection) -> Answer:
        body = booking_body(self.rng.choice(self.seats), self.citizens.next())
        return await connection.request("POST", BOOKINGS, body, self.headers)


class OneSeat(Bookings):
    """Bookings of successive citizens, all for one slot."""

    def __init__(self, seat: Seat, token: str, citizens: Citizens) -> None:
        super().__init__([seat], token, citizens, random.Random(0))


def code_of(body: bytes) -> str:
    """The booking code of a 201 answer."""
    return str(msgspec.json.decode(body)["code"])

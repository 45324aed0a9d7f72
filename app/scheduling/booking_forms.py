"""The booking form, as the citizen's pages and the clerk's pages both show it: its fields,
its choices, and the booking request the typed text becomes.

Only text becomes values here (a choice from a list, a number in range); every rule of
booking itself — name, mobile number, identity document, representatives, timing, seats —
is the booking service's, so a clerk's booking meets exactly the rules a citizen's does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request

from app.core.errors import RuleViolation
from app.core.identity import ID_TYPE_LABELS, IdType
from app.scheduling.booking_services import BookingRequest, Channel

TOPICS = ("土地征收", "劳动社保", "城建住房", "涉法涉诉", "生态环境", "其他")
SUMMARY_MAX = 300
PARTY_MAX = 99
ID_LABELS = {str(k): v for k, v in ID_TYPE_LABELS.items()}
#: The channels staff book through, as the clerk's page names them.
STAFF_CHANNELS: Mapping[Channel, str] = {Channel.phone: "电话预约", Channel.in_person: "现场登记"}

FORM_FIELDS = (
    "name",
    "id_type",
    "id_number",
    "topic",
    "summary",
    "party_size",
    "representatives",
    "slot",
    "waitlist",
)
#: A clerk types the mobile number (no one-time code) and says how the citizen came.
STAFF_FIELDS = (*FORM_FIELDS, "mobile", "channel")


async def read_form(
    request: Request[Any, Any, Any], fields: tuple[str, ...] = FORM_FIELDS
) -> dict[str, str]:
    form = await request.form()
    return {k: str(form.get(k, "")).strip() for k in fields}


def form_choices() -> dict[str, Any]:
    """What the form's lists and limits need in a template's context."""
    return {
        "id_types": list(ID_LABELS.items()),
        "topics": [(t, t) for t in TOPICS],
        "summary_max": SUMMARY_MAX,
        "party_max": PARTY_MAX,
    }


def _id_type(text: str) -> IdType:
    try:
        return IdType(text)
    except ValueError:
        raise RuleViolation("请选择证件类型。") from None


def _party_size(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= PARTY_MAX:
        raise RuleViolation(f"来访人数应为1至{PARTY_MAX}之间的整数。")
    return int(text)


def _topic(text: str) -> str:
    if text not in TOPICS:
        raise RuleViolation("请选择反映事项的类别。")
    return text


def staff_channel(text: str) -> Channel:
    """电话预约 or 现场登记: the channels a clerk books through (online is the citizen's)."""
    try:
        channel = Channel(text)
    except ValueError:
        channel = Channel.online
    if channel not in STAFF_CHANNELS:
        raise RuleViolation("请选择电话预约或现场登记。")
    return channel


def booking_request(
    sitting_id: int, mobile: str, values: Mapping[str, str], channel: Channel = Channel.online
) -> BookingRequest:
    """The form as a booking request; online, the mobile number is the verified one, never
    typed. A walk-in takes no slot and never waits: it gets a queue number."""
    walk_in = channel is Channel.in_person
    return BookingRequest(
        sitting_id=sitting_id,
        channel=channel,
        name=values["name"],
        mobile=mobile,
        id_type=_id_type(values["id_type"]),
        id_number=values["id_number"],
        topic=_topic(values["topic"]),
        summary=values["summary"],
        slot_start=None if walk_in else values["slot"] or None,
        party_size=_party_size(values["party_size"] or "1"),
        representatives=tuple(
            n.strip() for n in values["representatives"].splitlines() if n.strip()
        ),
        waitlist=not walk_in and values["waitlist"] == "1",
    )


def staff_request(sitting_id: int, values: Mapping[str, str]) -> BookingRequest:
    """A clerk's form: the channel chosen and the mobile number as typed (the booking
    service checks it like any other)."""
    channel = staff_channel(values["channel"])
    return booking_request(sitting_id, values["mobile"], values, channel)

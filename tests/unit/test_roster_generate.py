"""The benchmark's county year: a valid instance of the roster contract, shaped like the
county it describes, with enough cover on every sitting, and the same for the same seed."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import msgspec
import pytest

from app.core.workdays import WorkCalendar
from app.scheduling.schemas import Assignment, Instance, Official, Rule, RuleKind
from bench.roster.generate import county_year, days_between, with_absence

ROOT = Path(__file__).resolve().parents[2]
YEAR = 2027


@pytest.fixture(scope="module")
def instance() -> Instance:
    return county_year(YEAR, 7)


def rules_of(instance: Instance, kind: RuleKind) -> list[Rule]:
    return [r for r in instance.rules if r.kind is kind]


def officials(instance: Instance) -> dict[str, Official]:
    return {o.id: o for o in instance.officials}


def in_post(official: Official, day: date) -> bool:
    tenure = official.tenure
    if tenure is None:
        return True
    return (tenure.start is None or tenure.start <= day) and (
        tenure.end is None or day < tenure.end
    )


def free(official: Official, day: date) -> bool:
    away = any(b.start <= day <= b.end for b in official.unavailable)
    return in_post(official, day) and not away


def test_it_round_trips_through_the_json_contract(instance: Instance) -> None:
    data = msgspec.json.encode(instance)
    assert msgspec.json.decode(data, type=Instance) == instance
    raw = msgspec.json.decode(data)
    leaving = next(o for o in raw["officials"] if o["id"] == "C07")
    assert leaving["tenure"] == {"from": None, "to": f"{YEAR}-07-01"}
    assert set(leaving["unavailable"][0]) == {"from", "to", "reason"}
    assert (instance.period.start, instance.period.end) == (date(YEAR, 1, 1), date(YEAR, 12, 31))
    assert instance.pinned == [] and instance.previous == []


def test_every_pool_member_is_an_official_listed_once(instance: Instance) -> None:
    ids = [o.id for o in instance.officials]
    assert len(ids) == len(set(ids))
    named = {m for r in instance.rules for m in (*r.pool, *r.fallback)}
    assert named == set(ids)
    assert len({o.name for o in instance.officials}) == len(ids)


def test_thirty_county_leaders_and_one_replacement_sit_every_day(instance: Instance) -> None:
    [county] = rules_of(instance, RuleKind.daily)
    assert county.pool == [f"C{n:02d}" for n in range(1, 32)]
    assert (county.sessions, county.per_day, county.min_gap_days) == (["am", "pm"], 1, 5)
    by_id = officials(instance)
    assert by_id["C07"].tenure is not None and by_id["C07"].tenure.end == date(YEAR, 7, 1)
    assert by_id["C31"].tenure is not None and by_id["C31"].tenure.start == date(YEAR, 7, 1)
    leaders = [by_id[c] for c in county.pool]
    for day in days_between(instance.period.start, instance.period.end):
        assert sum(free(o, day) for o in leaders) >= 3, day


def test_twenty_townships_four_of_them_with_two_members_and_a_deputy(instance: Instance) -> None:
    townships = rules_of(instance, RuleKind.monthly)
    assert [r.id for r in townships] == [f"T{n:02d}" for n in range(1, 21)]
    with_fallback = [r for r in townships if r.fallback]
    assert [r.id for r in with_fallback] == ["T03", "T08", "T13", "T18"]
    for rule in with_fallback:
        assert rule.pool == [f"{rule.id}-S", f"{rule.id}-H"]
        assert rule.fallback == [f"{rule.id}-F"]
    assert all(len(r.pool) >= 3 for r in townships if not r.fallback)
    assert rules_of(instance, RuleKind.monthly)[4].pool == ["T05-S", "T05-S2", "T05-H", "T05-C"]
    assert all(r.days_of_month == [1, 11, 21] for r in townships)


def test_every_township_day_has_someone_in(instance: Instance) -> None:
    calendar = WorkCalendar.china()
    by_id = officials(instance)
    for rule in rules_of(instance, RuleKind.monthly):
        people = [by_id[m] for m in (*rule.pool, *rule.fallback)]
        for month in range(1, 13):
            for dom in rule.days_of_month:
                day = calendar.roll_forward(date(YEAR, month, dom))
                assert day.year > YEAR or any(free(o, day) for o in people), (rule.id, day)


def test_three_hundred_villages_receive_on_tuesdays(instance: Instance) -> None:
    villages = rules_of(instance, RuleKind.weekly)
    assert [r.id for r in villages] == [f"V{n:03d}" for n in range(1, 301)]
    for rule in villages:
        assert rule.pool == [f"{rule.id}-S", f"{rule.id}-D"]
        assert rule.primary == rule.pool[0]
        assert rule.weekday == 2 and rule.name.endswith("周二接访")
    assert len({r.name for r in villages}) == 300


def test_no_village_tuesday_finds_both_officials_away(instance: Instance) -> None:
    by_id = officials(instance)
    tuesdays = [
        d for d in days_between(instance.period.start, instance.period.end) if d.isoweekday() == 2
    ]
    for rule in rules_of(instance, RuleKind.weekly):
        secretary, deputy = (by_id[m] for m in rule.pool)
        assert all(free(secretary, d) or free(deputy, d) for d in tuesdays), rule.id


def test_about_a_tenth_of_official_days_are_away(instance: Instance) -> None:
    days = list(days_between(instance.period.start, instance.period.end))
    away = in_post_days = 0
    for official in instance.officials:
        serving = [d for d in days if in_post(official, d)]
        in_post_days += len(serving)
        away += sum(not free(official, d) for d in serving)
        for block in official.unavailable:
            assert 1 <= (block.end - block.start).days + 1 <= 10
            assert block.reason in {"请假", "出差", "会议", "培训"}
    assert 0.08 <= away / in_post_days <= 0.12


def test_five_leaders_wish_for_some_dates_and_against_others(instance: Instance) -> None:
    wishing = [o for o in instance.officials if o.desired or o.undesired]
    assert len(wishing) == 5
    assert all(o.id.startswith("C") for o in wishing)
    assert all(len(o.desired) == 2 and len(o.undesired) == 2 for o in wishing)
    assert all(free(o, d) for o in wishing for d in (*o.desired, *o.undesired))


def test_the_same_seed_gives_the_same_instance(instance: Instance) -> None:
    data = msgspec.json.encode(instance)
    assert msgspec.json.encode(county_year(YEAR, 7)) == data
    assert msgspec.json.encode(county_year(YEAR, 8)) != data


def test_the_same_seed_gives_the_same_instance_in_another_process(instance: Instance) -> None:
    code = (
        "import hashlib, msgspec; from bench.roster.generate import county_year; "
        f"print(hashlib.sha256(msgspec.json.encode(county_year({YEAR}, 7))).hexdigest())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == hashlib.sha256(msgspec.json.encode(instance)).hexdigest()


def test_an_absence_adds_one_block_and_keeps_the_roster(instance: Instance) -> None:
    roster = [Assignment("county", date(YEAR, 3, 9), "C05", "am")]
    changed = with_absence(instance, roster, "C05", date(YEAR, 3, 8), 14)
    assert changed.previous == roster
    before, after = officials(instance)["C05"], officials(changed)["C05"]
    [block] = [b for b in after.unavailable if b not in before.unavailable]
    assert len(after.unavailable) == len(before.unavailable) + 1
    assert (block.start, block.end) == (date(YEAR, 3, 8), date(YEAR, 3, 8) + timedelta(days=13))
    assert [o for o in changed.officials if o.id != "C05"] == [
        o for o in instance.officials if o.id != "C05"
    ]
    with pytest.raises(ValueError):
        with_absence(instance, roster, "C99", date(YEAR, 3, 8), 14)

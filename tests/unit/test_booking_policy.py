"""The booking limits come from the deployment's settings."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.settings import load_settings
from app.scheduling.booking_services import Policy
from app.scheduling.representatives import Jurisdiction


def test_defaults_are_zhejiang_thirty_days_closing_at_five_the_day_before() -> None:
    policy = Policy.of(load_settings({}))
    assert policy == Policy()
    assert policy.jurisdiction is Jurisdiction.zhejiang and policy.closes_at == dt.time(17)


def test_every_limit_is_a_setting() -> None:
    policy = Policy.of(
        load_settings(
            {
                "JIEFANG_BOOKING_WINDOW_DAYS": "14",
                "JIEFANG_BOOKING_NOTICE_DAYS": "2",
                "JIEFANG_BOOKING_CLOSES_AT": "12:00",
                "JIEFANG_BOOKING_PER_MONTH": "1",
                "JIEFANG_JURISDICTION": "national",
            }
        )
    )
    assert policy == Policy(Jurisdiction.national, 14, 2, dt.time(12), 1)


def test_settings_that_cannot_work_are_refused_at_start() -> None:
    with pytest.raises(ValueError, match="JIEFANG_JURISDICTION"):
        load_settings({"JIEFANG_JURISDICTION": "mars"})
    with pytest.raises(ValueError, match="HH:MM"):
        load_settings({"JIEFANG_BOOKING_CLOSES_AT": "5pm"})

"""`business_hours` in `GET/PATCH /api/v1/business/`: the documented week,
400s naming the day and the interval, and nothing stored on a refusal."""

from __future__ import annotations

import pytest

from billing.models import Business
from workspace.models import OpeningInterval

pytestmark = pytest.mark.django_db

URL = "/api/v1/business/"
NINE_TO_SIX = [{"opens": "09:00", "closes": "18:00"}]
WEEK = {
    "monday": [
        {"opens": "09:00", "closes": "12:30"},
        {"opens": "13:30", "closes": "18:00"},
    ],
    "tuesday": NINE_TO_SIX,
    "wednesday": NINE_TO_SIX,
    "thursday": NINE_TO_SIX,
    "friday": [{"opens": "09:00", "closes": "24:00"}],
    "saturday": [{"opens": "00:00", "closes": "02:00"}],
    "sunday": [],
}


def test_an_admin_sets_the_week_and_every_member_reads_it(
    admin_api, api_client_for, agent_member
):
    answer = admin_api.patch(
        URL,
        {"business_hours": WEEK, "time_zone": "Europe/Lisbon"},
        format="json",
    )

    assert answer.status_code == 200, answer.json()
    assert answer.json()["business_hours"] == WEEK
    read = api_client_for(agent_member).get(URL).json()
    assert (read["business_hours"], read["time_zone"]) == (WEEK, "Europe/Lisbon")
    assert OpeningInterval.objects.count() == 7


def test_null_removes_the_hours(admin_api):
    admin_api.patch(URL, {"business_hours": WEEK}, format="json")

    answer = admin_api.patch(URL, {"business_hours": None}, format="json")

    assert answer.status_code == 200
    assert answer.json()["business_hours"] is None
    assert not OpeningInterval.objects.exists()


def test_an_agent_cannot_change_them(api_client_for, agent_member):
    answer = api_client_for(agent_member).patch(
        URL, {"business_hours": WEEK}, format="json"
    )

    assert answer.status_code == 403
    assert not OpeningInterval.objects.exists()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"tuesday": [{"opens": "22:00", "closes": "02:00"}]},
            {
                "tuesday": [
                    "Interval 1 (22:00-02:00): it must close after it opens. For "
                    "hours past midnight, close this day at 24:00 and open the "
                    "next day at 00:00."
                ]
            },
        ),
        (
            {
                "monday": [
                    {"opens": "09:00", "closes": "12:30"},
                    {"opens": "nine", "closes": "18:00"},
                ]
            },
            {
                "monday": [
                    "Interval 2 (nine-18:00): the opening time is not a time of "
                    "day; write it as HH:MM, from 00:00 to 24:00."
                ]
            },
        ),
        (
            {
                "thursday": [
                    {"opens": f"0{h}:00", "closes": f"0{h}:30"} for h in range(7)
                ]
            },
            {"thursday": ["A day has at most 6 intervals."]},
        ),
        (
            {"friday": [{"opens": "9" * 5000, "closes": "18:00"}]},
            {
                "friday": [
                    "Interval 1 (999999999999-18:00): the opening time is not a "
                    "time of day; write it as HH:MM, from 00:00 to 24:00."
                ]
            },
        ),
        (
            {"wednesday": "9 to 5"},
            {"wednesday": ['Give a list of {"opens": "HH:MM", "closes": "HH:MM"}.']},
        ),
        (
            {"sunday": None, "holiday": []},
            {
                "sunday": ['Give a list of {"opens": "HH:MM", "closes": "HH:MM"}.'],
                "holiday": ["“holiday” is not a day; use monday, tuesday, … sunday."],
            },
        ),
    ],
)
def test_a_refused_week_answers_400_naming_the_day(admin_api, changes, errors):
    week = {**WEEK, **changes}

    answer = admin_api.patch(
        URL, {"business_hours": week, "name": "Renamed"}, format="json"
    )

    assert answer.status_code == 400
    assert answer.json() == {"business_hours": errors}
    assert not OpeningInterval.objects.exists()
    assert Business.objects.get().name != "Renamed"


def test_a_week_closed_every_day_or_not_an_object_is_refused(admin_api):
    closed = {day: [] for day in WEEK}

    answer = admin_api.patch(URL, {"business_hours": closed}, format="json")
    assert answer.status_code == 400
    assert "Every day is closed" in answer.json()["business_hours"][0]

    answer = admin_api.patch(URL, {"business_hours": ["09:00"]}, format="json")
    assert answer.status_code == 400
    assert "seven days" in answer.json()["business_hours"][0]


def test_a_refused_setting_keeps_the_old_hours(admin_api):
    admin_api.patch(URL, {"business_hours": WEEK}, format="json")
    other = {**WEEK, "sunday": NINE_TO_SIX}

    answer = admin_api.patch(
        URL, {"business_hours": other, "time_zone": "Mars/Base"}, format="json"
    )

    assert answer.status_code == 400
    assert list(answer.json()) == ["time_zone"]
    assert admin_api.get(URL).json()["business_hours"] == WEEK

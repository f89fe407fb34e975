"""The API's datetime format, written out for the hot paths, is DRF's DateTimeField's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings
from rest_framework.fields import DateTimeField

from realtime.fields import datetime_text

MOMENTS = [
    datetime(2026, 11, 30, 6, 30, 0, tzinfo=timezone.utc),
    datetime(2026, 11, 30, 6, 30, 0, 123456, tzinfo=timezone.utc),
    datetime(2026, 7, 1, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
]


@pytest.mark.parametrize("moment", MOMENTS, ids=["utc", "microseconds", "another-offset"])
def test_datetime_text_is_what_the_rest_api_writes(moment):
    assert datetime_text(moment) == DateTimeField().to_representation(moment)


@override_settings(TIME_ZONE="Europe/Paris")
@pytest.mark.parametrize("moment", MOMENTS, ids=["utc", "microseconds", "another-offset"])
def test_datetime_text_follows_the_configured_time_zone_as_the_rest_api_does(moment):
    assert datetime_text(moment) == DateTimeField().to_representation(moment)
    assert not datetime_text(moment).endswith("Z")

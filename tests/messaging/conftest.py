"""Every messaging test starts with an empty participant cache (ids may come back in a new test database)."""

from __future__ import annotations

import pytest

from messaging import realtime


@pytest.fixture(autouse=True)
def fresh_participant_cache():
    realtime.participants.clear()
    yield
    realtime.participants.clear()

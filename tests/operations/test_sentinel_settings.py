"""Naming a Sentinel deployment (docs/configuration.md): strict, and the plain REDIS_URL setup unchanged."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.accounts.test_settings import load_settings

SENTINEL = {"REDIS_URL": "redis://:secret@ignored:6379/3", "DEDWEN_REDIS_MASTER": "dedwen"}


def test_sentinels_are_read_as_host_port_pairs_and_the_cache_follows_the_master(monkeypatch):
    values = load_settings(monkeypatch, **SENTINEL, DEDWEN_REDIS_SENTINELS="10.0.0.1:26379, sentinel-b:26380,[::1]:26381")
    assert values["DEDWEN_REDIS_SENTINELS"] == [("10.0.0.1", 26379), ("sentinel-b", 26380), ("::1", 26381)]
    assert values["CACHES"]["default"]["OPTIONS"]["pool_class"] == "realtime.redis.SyncMasterPool"


def test_a_plain_redis_url_is_used_as_before(monkeypatch):
    values = load_settings(monkeypatch, REDIS_URL="redis://127.0.0.1:6379/0")
    assert values["DEDWEN_REDIS_SENTINELS"] == [] and values["DEDWEN_REDIS_MASTER"] is None
    assert "pool_class" not in values["CACHES"]["default"]["OPTIONS"]


@pytest.mark.parametrize(
    "env, named",
    [
        ({**SENTINEL, "DEDWEN_REDIS_SENTINELS": "10.0.0.1"}, "DEDWEN_REDIS_SENTINELS"),
        ({**SENTINEL, "DEDWEN_REDIS_SENTINELS": "10.0.0.1:0"}, "DEDWEN_REDIS_SENTINELS"),
        ({**SENTINEL, "DEDWEN_REDIS_SENTINELS": "a:1,,b:2"}, "DEDWEN_REDIS_SENTINELS"),
        ({"REDIS_URL": "redis://x/0", "DEDWEN_REDIS_SENTINELS": "a:26379"}, "DEDWEN_REDIS_MASTER"),
        ({"DEDWEN_REDIS_SENTINELS": "a:26379", "DEDWEN_REDIS_MASTER": "m"}, "needs REDIS_URL"),
    ],
)
def test_an_incomplete_or_malformed_sentinel_setting_stops_start_up(monkeypatch, env, named):
    monkeypatch.delenv("REDIS_URL", raising=False)
    with pytest.raises(ImproperlyConfigured, match=named):
        load_settings(monkeypatch, **env)

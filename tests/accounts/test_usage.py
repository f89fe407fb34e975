"""A device's last use: stamped by its authentication, written in bulk off the socket's path."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from accounts import usage
from accounts.models import Device
from accounts.tokens import authenticate_access_token
from realtime import db

pytestmark = pytest.mark.django_db(transaction=True)  # the authentications run in the database thread


@pytest.fixture
def unused_phone_and_laptop(alice, device_of):
    """Return alice's phone and laptop, neither used for five minutes."""
    phone, laptop = device_of(alice), device_of(alice)
    Device.objects.filter(pk__in=[phone.device.pk, laptop.device.pk]).update(last_used_at=timezone.now() - timedelta(minutes=5))
    return phone, laptop


@pytest.fixture
def writes(monkeypatch) -> list[dict]:
    """Record each bulk write of stamps (the devices it named)."""
    done: list[dict] = []
    real_write = usage.write

    def recording_write(*, devices):
        real_write(devices=devices)
        done.append(dict(devices))

    monkeypatch.setattr(usage, "write", recording_write)
    return done


async def last_used(*devices) -> list:
    return await db.call(lambda: [Device.objects.get(pk=device.device.pk).last_used_at for device in devices])


async def test_sockets_authenticated_together_stamp_their_devices_in_one_write_after_their_answers(unused_phone_and_laptop, writes):
    phone, laptop = unused_phone_and_laptop
    long_ago = await last_used(phone, laptop)
    before = timezone.now()
    for device in (phone, laptop):
        identity = await db.call(authenticate_access_token, device.token)
        assert identity.device.last_used_at >= before  # what the socket sees is fresh
    assert await last_used(phone, laptop) == long_ago  # nothing written on the way to the answer
    await usage.flush()
    assert [set(write) for write in writes] == [{phone.device.pk, laptop.device.pk}]
    assert all(at >= before for at in await last_used(phone, laptop))


async def test_stamps_are_written_within_flush_after_without_anyone_asking(unused_phone_and_laptop, monkeypatch):
    phone, _ = unused_phone_and_laptop
    monkeypatch.setattr(usage, "FLUSH_AFTER", 0.05)
    loop, written = asyncio.get_running_loop(), asyncio.Event()
    real_write = usage.write

    def signalling_write(*, devices):
        real_write(devices=devices)
        loop.call_soon_threadsafe(written.set)

    monkeypatch.setattr(usage, "write", signalling_write)
    before = timezone.now()
    await db.call(authenticate_access_token, phone.token)
    await asyncio.wait_for(written.wait(), 5)
    [at] = await last_used(phone)
    assert at >= before


async def test_a_write_that_fails_is_logged_without_failing_anything(unused_phone_and_laptop, monkeypatch, caplog):
    phone, _ = unused_phone_and_laptop

    def database_down(*, devices):
        raise OperationalError("database is locked")

    monkeypatch.setattr(usage, "write", database_down)
    await db.call(authenticate_access_token, phone.token)
    with caplog.at_level(logging.WARNING, logger="dedwen.accounts.usage"):
        await usage.flush()
    assert "last use of 1 devices not written: Unavailable" in caplog.text
    assert phone.token not in caplog.text

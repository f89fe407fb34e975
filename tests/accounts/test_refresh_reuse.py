"""A rotated-out refresh token that comes back later has leaked: its device is revoked (reuse detection)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from accounts.models import Device
from realtime.protocol import EVENT_DEVICE_REVOKED, CloseCode, device_group
from tests.support.realtime import socket_client

REFRESH = "/api/auth/token/refresh/"


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def after_the_grace() -> None:
    """Make every rotation look older than the reuse grace."""
    grace = timedelta(seconds=settings.DEDWEN_REFRESH_REUSE_GRACE + 1)
    BlacklistedToken.objects.update(blacklisted_at=timezone.now() - grace)


def test_a_replayed_rotated_out_refresh_token_revokes_its_device(alice, login, broadcasts):
    stolen = login(alice)
    rotated = refresh(stolen.refresh).json()
    after_the_grace()

    with broadcasts() as sent:
        replayed = refresh(stolen.refresh)

    assert replayed.status_code == 401
    assert replayed.json()["error"]["code"] == "token_not_valid"
    device = Device.objects.get(pk=stolen.device_id)
    assert device.is_revoked and device.revoke_reason == Device.RevokeReason.REFRESH_REUSE
    assert sent.sent == [(device_group(stolen.device_id), {"type": EVENT_DEVICE_REVOKED})]
    assert refresh(rotated["refresh"]).status_code == 401
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {rotated['token']}").get("/api/me/").status_code == 401


def test_a_replay_leaves_the_users_other_devices_alone(alice, login):
    phone, laptop = login(alice), login(alice)
    assert refresh(phone.refresh).status_code == 200
    after_the_grace()

    assert refresh(phone.refresh).status_code == 401

    assert Device.objects.get(pk=phone.device_id).is_revoked
    assert refresh(laptop.refresh).status_code == 200


def test_a_replay_within_the_grace_is_refused_without_revoking_the_device(alice, login):
    session = login(alice)
    rotated = refresh(session.refresh).json()

    assert refresh(session.refresh).status_code == 401

    assert not Device.objects.get(pk=session.device_id).is_revoked
    assert refresh(rotated["refresh"]).status_code == 200


def test_with_no_grace_an_immediate_replay_revokes(alice, login, settings):
    settings.DEDWEN_REFRESH_REUSE_GRACE = 0
    session = login(alice)
    assert refresh(session.refresh).status_code == 200
    BlacklistedToken.objects.update(blacklisted_at=timezone.now() - timedelta(milliseconds=1))

    assert refresh(session.refresh).status_code == 401
    assert Device.objects.get(pk=session.device_id).is_revoked


@pytest.mark.usefixtures("transactional_db")
async def test_a_replay_closes_the_devices_live_socket_4403(alice, device_of):
    minted = await sync_to_async(device_of)(alice)
    async with socket_client() as client:
        await client.authenticate(minted.token)
        assert (await sync_to_async(refresh)(minted.refresh)).status_code == 200
        await sync_to_async(after_the_grace)()

        assert (await sync_to_async(refresh)(minted.refresh)).status_code == 401

        assert await client.closed_with() == CloseCode.FORBIDDEN

"""The socket authenticator's periodic re-check agrees with what the ORM calls a live device."""

from __future__ import annotations

from django.utils import timezone

from accounts.models import Device
from accounts.sockets import authenticator


def orm_says_live(device: Device, user_id: int) -> bool:
    return Device.objects.live().filter(pk=device.pk, user_id=user_id).exists()


def test_the_recheck_keeps_exactly_the_devices_the_orm_calls_live(alice, bob, carol, device_of):
    live, revoked, deactivated = device_of(alice).device, device_of(bob).device, device_of(carol).device
    Device.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    type(carol).objects.filter(pk=carol.pk).update(is_active=False)  # no signal: her device stays unrevoked
    cases = [(live, alice.pk), (revoked, bob.pk), (deactivated, carol.pk), (live, bob.pk)]  # the last: another user's device

    answers = [authenticator.is_live(device_id=device.pk, user_id=user_id) for device, user_id in cases]

    assert answers == [orm_says_live(device, user_id) for device, user_id in cases] == [True, False, False, False]

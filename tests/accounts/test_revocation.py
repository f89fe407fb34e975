"""Revocation is one service: a device is marked, its refresh tokens blacklisted, its sockets told to close."""

from __future__ import annotations

from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import (
    BlacklistedToken,
    OutstandingToken,
)

from accounts import services
from accounts.models import Device
from realtime.protocol import EVENT_DEVICE_REVOKED, device_group


def closes(*minted) -> list[tuple[str, dict]]:
    return [(device_group(m.device_id), {"type": EVENT_DEVICE_REVOKED}) for m in minted]


def refresh(token: str) -> int:
    return APIClient().post("/api/auth/token/refresh/", {"refresh": token}, format="json").status_code


def test_revoking_a_device_marks_it_blacklists_its_refresh_tokens_and_publishes_its_group(alice, device_of, broadcasts, bob):
    phone, laptop = device_of(alice), device_of(alice)
    with broadcasts() as sent:
        assert services.revoke_device(device=phone.device, reason=Device.RevokeReason.ADMIN, by=bob) is True

    assert sent.sent == closes(phone)
    phone.device.refresh_from_db()
    assert phone.device.revoked_at is not None
    assert (phone.device.revoke_reason, phone.device.revoked_by) == (Device.RevokeReason.ADMIN, bob)
    blacklisted = set(BlacklistedToken.objects.values_list("token__token", flat=True))
    assert phone.refresh in blacklisted and laptop.refresh not in blacklisted
    assert phone.bearer().get("/api/me/").status_code == 401
    assert laptop.bearer().get("/api/me/").status_code == 200


def test_every_outstanding_refresh_token_of_the_device_is_blacklisted(alice, device_of):
    phone = device_of(alice)
    rotated = APIClient().post("/api/auth/token/refresh/", {"refresh": phone.refresh}, format="json").json()["refresh"]
    services.revoke_device(device=phone.device, reason=Device.RevokeReason.USER)
    assert refresh(rotated) == 401
    assert OutstandingToken.objects.filter(blacklistedtoken__isnull=True).count() == 0


def test_revoking_twice_publishes_once(alice, device_of, broadcasts):
    phone = device_of(alice)
    with broadcasts() as sent:
        assert services.revoke_device(device=phone.device, reason=Device.RevokeReason.ADMIN) is True
        assert services.revoke_device(device=phone.device, reason=Device.RevokeReason.ADMIN) is False
    assert sent.sent == closes(phone)


def test_nothing_is_published_when_the_revocation_rolls_back(alice, device_of, broadcasts):
    from django.db import transaction

    phone = device_of(alice)
    with broadcasts() as sent:
        try:
            with transaction.atomic():
                services.revoke_device(device=phone.device, reason=Device.RevokeReason.ADMIN)
                raise RuntimeError("the caller's transaction fails")
        except RuntimeError:
            pass
    assert sent.sent == []
    assert not Device.objects.get(pk=phone.device_id).is_revoked


def test_changing_the_password_keeps_the_current_device_and_revokes_the_others(alice, bob, device_of, broadcasts):
    here, phone, laptop, bobs = device_of(alice), device_of(alice), device_of(alice), device_of(bob)
    with broadcasts() as sent:
        count = services.change_password(user=alice, new_password="a brand new passphrase", current_device=here.device)

    assert count == 2
    assert sorted(sent.sent) == sorted(closes(phone, laptop))
    assert here.bearer().get("/api/me/").status_code == 200
    assert phone.bearer().get("/api/me/").status_code == 401
    assert bobs.bearer().get("/api/me/").status_code == 200
    alice.refresh_from_db()
    assert alice.check_password("a brand new passphrase")
    assert Device.objects.get(pk=phone.device_id).revoke_reason == Device.RevokeReason.PASSWORD_CHANGE


def test_set_password_and_save_revokes_every_device(alice, device_of, broadcasts):
    phone, laptop = device_of(alice), device_of(alice)
    with broadcasts() as sent:
        alice.set_password("a brand new passphrase")
        alice.save()
    assert sorted(sent.sent) == sorted(closes(phone, laptop))
    assert {d.revoke_reason for d in Device.objects.filter(user=alice)} == {Device.RevokeReason.PASSWORD_CHANGE}


def test_saving_a_user_without_credential_changes_revokes_nothing(alice, device_of, broadcasts):
    phone = device_of(alice)
    with broadcasts() as sent:
        alice.first_name = "Alice"
        alice.save()
        alice.save(update_fields=["last_login"])
    assert sent.sent == []
    assert not Device.objects.get(pk=phone.device_id).is_revoked


def test_deactivating_a_user_revokes_every_device(alice, device_of, broadcasts):
    phone, laptop = device_of(alice), device_of(alice)
    with broadcasts() as sent:
        alice.is_active = False
        alice.save(update_fields=["is_active"])
    assert sorted(sent.sent) == sorted(closes(phone, laptop))
    assert {d.revoke_reason for d in Device.objects.filter(user=alice)} == {Device.RevokeReason.DEACTIVATED}


def test_reactivating_a_user_does_not_bring_old_devices_back(alice, device_of):
    phone = device_of(alice)
    alice.is_active = False
    alice.save()
    alice.is_active = True
    alice.save()
    assert phone.bearer().get("/api/me/").status_code == 401


def test_deleting_a_user_closes_the_sockets_of_their_devices(alice, device_of, broadcasts):
    phone = device_of(alice)
    with broadcasts() as sent:
        alice.delete()
    assert sent.sent == closes(phone)
    assert phone.bearer().get("/api/me/").status_code == 401

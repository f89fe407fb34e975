"""The admin: devices listed and filtered, revoked one by one or all of a user's, passwords changed."""

from __future__ import annotations

import re

from django.test import Client

from accounts.models import Device
from realtime.protocol import EVENT_DEVICE_REVOKED, device_group
from tests.support.cast import make_user

DEVICES = "/admin/accounts/device/"
USERS = "/admin/auth/user/"


def listed(response) -> list[Device]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def test_the_device_list_shows_user_device_info_dates_and_status(admin_client, alice, device_of):
    device = device_of(alice, client_id="phone-1").device
    response = admin_client.get(DEVICES)

    # Newest first: alice's device, then the one the admin's own login created.
    assert [(d, d.user.username) for d in listed(response)][0] == (device, "alice")
    assert [d.user.username for d in listed(response)] == ["alice", "root"]
    changelist = response.context["cl"]
    assert {"user", "client_id", "user_agent", "ip_address", "created_at", "last_used_at", "status"} <= set(
        changelist.list_display
    )
    assert [f.title for f in changelist.filter_specs] == ["status", "user"]
    row = response.content.decode().split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tr>", 1)[0]
    for shown in ["alice", "phone-1", "pytest", "127.0.0.1", "active"]:
        assert shown in row


def test_the_device_list_filters_by_status_and_by_user(admin_client, alice, bob, device_of):
    from accounts.services import revoke_device

    live, dead, bobs = device_of(alice).device, device_of(alice).device, device_of(bob).device
    revoke_device(device=dead, reason=Device.RevokeReason.ADMIN)

    admins = Device.objects.get(user__username="root")  # the admin's own login is a device too
    assert listed(admin_client.get(DEVICES, {"status": "active"})) == [bobs, live, admins]
    assert listed(admin_client.get(DEVICES, {"status": "revoked"})) == [dead]
    assert set(listed(admin_client.get(DEVICES, {"user__id__exact": alice.pk}))) == {live, dead}
    assert "revoked (revoked by an administrator)" in admin_client.get(DEVICES, {"status": "revoked"}).content.decode()


def test_the_revoke_action_revokes_the_selected_devices_and_closes_their_sockets(admin_client, root, alice, device_of, broadcasts):
    chosen, other = device_of(alice), device_of(alice)
    with broadcasts() as sent:
        response = admin_client.post(DEVICES, {"action": "revoke", "_selected_action": [chosen.device_id]})

    assert response.status_code == 302
    chosen.device.refresh_from_db()
    assert chosen.device.is_revoked
    assert (chosen.device.revoke_reason, chosen.device.revoked_by) == (Device.RevokeReason.ADMIN, root)
    assert not Device.objects.get(pk=other.device_id).is_revoked
    assert sent.sent == [(device_group(chosen.device_id), {"type": EVENT_DEVICE_REVOKED})]
    assert chosen.bearer().get("/api/me/").status_code == 401
    assert other.bearer().get("/api/me/").status_code == 200


def test_the_revoke_action_needs_the_change_permission(alice, device_of):
    viewer = make_user("viewer", is_staff=True)
    from django.contrib.auth.models import Permission

    viewer.user_permissions.add(Permission.objects.get(codename="view_device"))
    client = Client()
    client.force_login(viewer)
    device = device_of(alice).device

    response = client.post(DEVICES, {"action": "revoke", "_selected_action": [device.pk]})

    assert response.status_code in (200, 302)
    assert not Device.objects.get(pk=device.pk).is_revoked


def test_revoking_an_already_revoked_device_publishes_nothing(admin_client, alice, device_of, broadcasts):
    from accounts.services import revoke_device

    device = device_of(alice).device
    revoke_device(device=device, reason=Device.RevokeReason.USER)
    with broadcasts() as sent:
        admin_client.post(DEVICES, {"action": "revoke", "_selected_action": [device.pk]})
    assert sent.sent == []
    assert Device.objects.get(pk=device.pk).revoke_reason == Device.RevokeReason.USER


def test_revoke_all_devices_of_selected_users(admin_client, alice, bob, device_of, broadcasts):
    alices = [device_of(alice), device_of(alice)]
    bobs = device_of(bob)
    with broadcasts() as sent:
        response = admin_client.post(USERS, {"action": "revoke_all_devices", "_selected_action": [alice.pk]})

    assert response.status_code == 302
    assert sorted(sent.groups()) == sorted(device_group(d.device_id) for d in alices)
    assert all(Device.objects.get(pk=d.device_id).is_revoked for d in alices)
    assert not Device.objects.get(pk=bobs.device_id).is_revoked


def test_changing_a_password_in_the_admin_revokes_every_device_of_that_user(admin_client, alice, device_of, broadcasts):
    phone, laptop = device_of(alice), device_of(alice)
    with broadcasts() as sent:
        response = admin_client.post(
            f"{USERS}{alice.pk}/password/",
            {"password1": "a brand new passphrase", "password2": "a brand new passphrase", "usable_password": "true"},
        )

    assert response.status_code == 302, response.context["form"].errors if response.context else response
    assert sorted(sent.groups()) == sorted([device_group(phone.device_id), device_group(laptop.device_id)])
    assert {d.revoke_reason for d in Device.objects.filter(user=alice)} == {Device.RevokeReason.PASSWORD_CHANGE}


def test_deactivating_a_user_in_the_admin_revokes_their_devices(admin_client, alice, device_of, broadcasts):
    phone = device_of(alice)
    form = {
        "username": "alice",
        "email": "alice@example.com",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }  # is_active unchecked
    with broadcasts() as sent:
        response = admin_client.post(f"{USERS}{alice.pk}/change/", form)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert sent.groups() == [device_group(phone.device_id)]
    assert Device.objects.get(pk=phone.device_id).revoke_reason == Device.RevokeReason.DEACTIVATED


# --- no token on any admin page -----------------------------------------------------------------

JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def test_no_admin_page_shows_a_token(admin_client, alice, login):
    from django.contrib import admin
    from rest_framework.test import APIClient

    phone = login(alice)
    rotated = APIClient().post("/api/auth/token/refresh/", {"refresh": phone.refresh}, format="json").json()
    tokens = [phone.token, phone.refresh, rotated["token"], rotated["refresh"]]

    pages = ["/admin/"]
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        pages += [base, f"{base}?q=eyJ", f"{base}?q={phone.refresh[:40]}"]
        pages += [f"{base}{pk}/change/" for pk in model._default_manager.values_list("pk", flat=True)[:3]]
    assert any("outstandingtoken/" in page and "/change/" in page for page in pages)
    assert any("blacklistedtoken/" in page and "/change/" in page for page in pages)

    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert not JWT.search(html), page
        assert not any(token in html for token in tokens), page


def test_the_token_pages_still_find_a_token_by_its_jti(admin_client, alice, login):
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    login(alice)
    outstanding = OutstandingToken.objects.get(user=alice)
    response = admin_client.get("/admin/token_blacklist/outstandingtoken/", {"q": outstanding.jti})
    assert listed(response) == [outstanding]

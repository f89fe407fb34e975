"""The rest of the accounts API: session -> token, refresh rotation, logout, me, and the schema."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import Device
from accounts.services import revoke_device
from realtime.protocol import EVENT_DEVICE_REVOKED, device_group
from tests.support.cast import PASSWORD

TOKEN = "/api/auth/token/"
REFRESH = "/api/auth/token/refresh/"
LOGOUT = "/api/auth/logout/"
ME = "/api/me/"


def csrf(client: APIClient) -> dict:
    """Return the header a browser's script sends: the CSRF cookie echoed back."""
    return {"HTTP_X_CSRFTOKEN": client.cookies[settings.CSRF_COOKIE_NAME].value}


def session_key(client: APIClient) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


# --- /api/me/ -----------------------------------------------------------------------------------


def test_me_answers_the_user_by_session(alice, login):
    session = login(alice)
    response = session.client.get(ME)
    assert response.status_code == 200
    assert response.json() == {"id": alice.pk, "username": "alice", "email": "alice@example.com", "presence_visible": True}
    assert session_key(session.client) not in response.content.decode()


def test_me_answers_the_user_by_bearer_token(alice, login):
    session = login(alice, client_id="cli-1")
    response = session.bearer().get(ME)
    assert response.status_code == 200
    assert response.json() == {"id": alice.pk, "username": "alice", "email": "alice@example.com", "presence_visible": True}


def test_me_without_credentials_is_401(db):
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


# --- /api/auth/token/ ---------------------------------------------------------------------------


def test_the_session_mints_a_fresh_access_token_for_its_own_device(alice, login):
    session = login(alice)
    response = session.client.post(TOKEN, **csrf(session.client))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiresAt"}
    assert body["token"] != session.token
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert me.get(ME).json()["id"] == alice.pk
    from accounts.tokens import authenticate_access_token

    assert authenticate_access_token(body["token"]).device.pk == session.device_id
    assert session_key(session.client) not in response.content.decode()


def test_the_token_endpoint_requires_csrf(alice, login):
    session = login(alice)
    response = session.client.post(TOKEN)
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_the_token_endpoint_requires_a_session_not_a_bearer_token(alice, login):
    session = login(alice)
    response = session.bearer().post(TOKEN)
    assert response.status_code == 401
    assert APIClient().post(TOKEN).status_code == 401


def test_the_token_endpoint_refuses_the_session_of_a_revoked_device(alice, login):
    session = login(alice)
    revoke_device(device=Device.objects.get(pk=session.device_id), reason=Device.RevokeReason.ADMIN)
    response = session.client.post(TOKEN, **csrf(session.client))
    assert response.status_code == 401
    assert session.client.get(ME).status_code == 401


def test_an_admin_login_also_gets_a_device_that_mints_tokens(alice):
    alice.is_staff = True
    alice.save(update_fields=["is_staff"])
    client = APIClient(enforce_csrf_checks=False, HTTP_USER_AGENT="admin browser")
    response = client.post("/admin/login/?next=/admin/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302

    device = Device.objects.get(user=alice)
    assert (device.user_agent, device.revoked_at) == ("admin browser", None)
    client.get("/admin/")  # sets the CSRF cookie
    token = client.post(TOKEN, **csrf(client)).json()["token"]
    from accounts.tokens import authenticate_access_token

    assert authenticate_access_token(token).device == device


# --- /api/auth/token/refresh/ -------------------------------------------------------------------


def refresh(token: str):
    return APIClient().post(REFRESH, {"refresh": token}, format="json")


def test_refresh_rotates_both_tokens(alice, login):
    session = login(alice)
    response = refresh(session.refresh)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "refresh", "expiresAt"}
    assert body["refresh"] != session.refresh
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {body['token']}").get(ME).status_code == 200
    assert refresh(body["refresh"]).status_code == 200


def test_an_old_refresh_token_is_refused_after_rotation(alice, login):
    session = login(alice)
    assert refresh(session.refresh).status_code == 200

    reused = refresh(session.refresh)

    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"
    assert "token" not in reused.json()


def test_refresh_of_a_revoked_device_is_401(alice, login):
    session = login(alice)
    revoke_device(device=Device.objects.get(pk=session.device_id), reason=Device.RevokeReason.ADMIN)
    assert refresh(session.refresh).status_code == 401


def test_refresh_of_an_inactive_user_is_401(alice, login):
    session = login(alice)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)  # no signal: the token check alone refuses
    assert refresh(session.refresh).status_code == 401


def test_an_access_token_cannot_be_used_to_refresh(alice, login):
    session = login(alice)
    assert refresh(session.token).status_code == 401


@pytest.mark.parametrize("body", [{}, {"refresh": ""}, {"refresh": 5}, {"refresh": "x" * 5000}, {"refresh": "garbage"}])
def test_refresh_with_bad_input_is_a_4xx_json_error(db, body):
    response = APIClient().post(REFRESH, body, format="json")
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"]


# --- /api/auth/logout/ --------------------------------------------------------------------------


def test_logout_by_bearer_revokes_the_device_and_closes_its_sockets(alice, login, broadcasts):
    session = login(alice)
    with broadcasts() as sent:
        response = session.bearer().post(LOGOUT)

    assert response.status_code == 204
    assert response.content == b""
    device = Device.objects.get(pk=session.device_id)
    assert device.is_revoked and device.revoke_reason == Device.RevokeReason.LOGOUT
    assert sent.sent == [(device_group(session.device_id), {"type": EVENT_DEVICE_REVOKED})]
    assert session.bearer().get(ME).status_code == 401
    assert refresh(session.refresh).status_code == 401


def test_logout_by_session_needs_csrf_then_ends_the_session_and_the_device(alice, login, broadcasts):
    session = login(alice)
    assert session.client.post(LOGOUT).status_code == 403
    assert not Device.objects.get(pk=session.device_id).is_revoked

    with broadcasts() as sent:
        response = session.client.post(LOGOUT, **csrf(session.client))

    assert response.status_code == 204
    assert sent.groups() == [device_group(session.device_id)]
    assert session.client.get(ME).status_code == 401
    assert session.bearer().get(ME).status_code == 401


def test_logout_leaves_the_users_other_devices_alone(alice, login):
    phone, laptop = login(alice), login(alice)
    assert phone.bearer().post(LOGOUT).status_code == 204
    assert laptop.bearer().get(ME).status_code == 200


def test_logout_without_credentials_is_401(db):
    assert APIClient().post(LOGOUT).status_code == 401


# --- /api/schema/ -------------------------------------------------------------------------------


def test_the_schema_is_openapi_3_and_names_every_accounts_path(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert {"/api/auth/login/", "/api/auth/token/", "/api/auth/token/refresh/", "/api/auth/logout/", "/api/me/"} <= set(
        schema["paths"]
    )
    login = schema["paths"]["/api/auth/login/"]["post"]
    assert {"200", "401", "429"} <= set(login["responses"])


def test_two_concurrent_uses_of_one_refresh_token_have_exactly_one_winner(transactional_db, alice):
    import threading

    from django.db import connections

    from accounts.services import RefreshRefused, rotate_refresh_token
    from tests.support.cast import mint_device

    minted = mint_device(alice)
    refresh_token = minted.refresh
    start, outcomes, issued = threading.Barrier(2, timeout=10), [], []

    def use_it():
        try:
            start.wait()
            issued.append(rotate_refresh_token(raw=refresh_token))
            outcomes.append("rotated")
        except RefreshRefused:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=use_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refused", "rotated"]
    # The loser comes back within DEDWEN_REFRESH_REUSE_GRACE: a race of one client, not a leak, so the
    # device lives on and the winner's new refresh token still works.
    assert not Device.objects.get(pk=minted.device_id).is_revoked
    assert refresh(str(issued[0].refresh)).status_code == 200

"""First pass over the accounts contract; the full spec lives in tests/accounts/."""

from accounts.models import Device


def test_login_mints_device_tokens_and_me_answers_with_bearer(alice, login):
    session = login(alice, client_id="cli-1")
    me = session.bearer().get("/api/me/")
    assert me.status_code == 200
    assert me.json() == {"id": alice.pk, "username": "alice", "email": "alice@example.com"}
    assert Device.objects.get(pk=session.device_id).client_id == "cli-1"


def test_revoking_a_device_publishes_its_group_event_and_refuses_its_token(alice, login, broadcasts):
    from accounts.services import revoke_device

    session = login(alice)
    with broadcasts() as sent:
        revoke_device(device=Device.objects.get(pk=session.device_id), reason=Device.RevokeReason.ADMIN)
    assert sent.groups() == [f"device.{session.device_id}"]
    assert session.bearer().get("/api/me/").status_code == 401

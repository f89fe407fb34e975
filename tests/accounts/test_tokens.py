"""Access tokens: one validator decides, and REST refuses every bad token with 401."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tokens import TokenRejected, authenticate_access_token
from tests.accounts.bad_tokens import BAD_TOKENS, BadToken, session_of


@pytest.fixture
def session(alice, bob, device_of):
    """Alice's valid tokens and device, plus a live device of bob's to forge against."""
    return session_of(device_of(alice), device_of(bob))


def test_a_valid_access_token_names_its_user_and_device(session):
    identity = authenticate_access_token(session.token)
    assert (identity.user, identity.device) == (session.device.user, session.device)


@pytest.mark.parametrize("case", BAD_TOKENS, ids=[case.name for case in BAD_TOKENS])
def test_the_validator_refuses_a_bad_token_and_says_why(session, case: BadToken):
    raw = case.build(session)
    with pytest.raises(TokenRejected) as rejected:
        authenticate_access_token(raw)
    assert rejected.value.failure == case.failure


HTTP_CASES = [case for case in BAD_TOKENS if case.over_http]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[case.name for case in HTTP_CASES])
@pytest.mark.parametrize("method, path", [("get", "/api/me/"), ("post", "/api/auth/logout/")])
def test_rest_refuses_a_bad_token_with_401(session, client, case: BadToken, method, path):
    raw = case.build(session)
    response = getattr(client, method)(path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"]


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Token abc", "bearer x.y.z", "Basic YWxpY2U6cGFzcw=="])
def test_rest_refuses_a_malformed_authorization_header(alice, client, header):
    response = client.get("/api/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401


def test_a_refused_token_does_not_fall_back_to_the_session(alice, login):
    session = login(alice)
    response = session.client.get("/api/me/", HTTP_AUTHORIZATION="Bearer garbage")
    assert response.status_code == 401


def test_the_validator_reads_the_device_and_its_user_as_the_orm_does_in_one_query(session, django_assert_num_queries):
    from accounts.models import Device

    expected = Device.objects.select_related("user").get(pk=session.device.pk)
    with django_assert_num_queries(1):  # last_used_at is fresh: no touch
        identity = authenticate_access_token(session.token)
        user = identity.device.user  # loaded with the device, no further query
    fields = [f.attname for f in Device._meta.concrete_fields]
    user_fields = [f.attname for f in type(user)._meta.concrete_fields]
    assert [getattr(identity.device, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert [getattr(user, f) for f in user_fields] == [getattr(expected.user, f) for f in user_fields]
    assert user is identity.user and not identity.device._state.adding



def test_a_device_unused_for_a_minute_is_touched_in_one_statement_and_no_other_is(alice, device_of, django_assert_num_queries):
    from accounts.models import Device

    phone, laptop = device_of(alice), device_of(alice)
    long_ago = timezone.now() - timedelta(minutes=5)
    Device.objects.filter(pk__in=[phone.device.pk, laptop.device.pk]).update(last_used_at=long_ago)
    before = timezone.now()
    with django_assert_num_queries(2):  # the device read, then the touch
        identity = authenticate_access_token(phone.token)
    assert before <= Device.objects.get(pk=phone.device.pk).last_used_at == identity.device.last_used_at
    assert Device.objects.get(pk=laptop.device.pk).last_used_at == long_ago

"""Every error a client can provoke is a JSON {"error": {"code", "message"}}, never an HTML page or a 500."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

TOO_MANY_FIELDS = "&".join(f"f{n}=1" for n in range(1001))  # DATA_UPLOAD_MAX_NUMBER_FIELDS is 1000
API_POSTS = [
    "/api/auth/login/",
    "/api/auth/token/refresh/",
    "/api/conversations/",
    "/api/conversations/{id}/messages/",
    "/api/conversations/{id}/read/",
    "/api/notifications/read/",
]


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:200]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


@pytest.fixture
def anyone():
    """A client that answers errors (Django's test client would re-raise them)."""
    return Client(raise_request_exception=False)


@pytest.fixture
def signed_in(alice, login):
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Bearer {login(alice).token}")
    return client


# --- too many fields or files -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/me/", "/api/conversations/", "/api/notifications/", "/api/presence/"])
def test_too_many_query_fields_on_an_api_endpoint_is_400_json(signed_in, path):
    assert_json_error(signed_in.get(f"{path}?{TOO_MANY_FIELDS}"), 400, "too_many_fields")


def test_too_many_query_fields_before_authentication_is_400_json(anyone, db):
    assert_json_error(anyone.post(f"/api/auth/login/?{TOO_MANY_FIELDS}", {}, content_type="application/json"), 400)


def test_too_many_fields_on_a_plain_page_is_400_json(anyone, db):
    assert_json_error(anyone.get(f"/accounts/login/?{TOO_MANY_FIELDS}"), 400, "too_many_fields")
    form = anyone.generic("POST", "/accounts/login/", TOO_MANY_FIELDS.encode(), content_type="application/x-www-form-urlencoded")
    assert_json_error(form, 400, "too_many_fields")


def test_too_many_files_on_a_form_view_is_400_json(anyone, db):
    files = [SimpleUploadedFile(f"f{n}.txt", b"x") for n in range(101)]  # DATA_UPLOAD_MAX_NUMBER_FILES is 100
    assert_json_error(anyone.post("/accounts/login/", {"upload": files}), 400, "too_many_files")


def test_a_form_body_over_the_upload_limit_is_413_json(anyone, db):
    body = b"username=" + b"a" * (1024 * 1024 + 1)
    response = anyone.generic("POST", "/accounts/login/", body, content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 413, "too_large")


# --- charsets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("charset", ["rot13", "base64", "bogus", "latin-1", "utf-16"])
def test_login_refuses_a_body_in_another_charset_with_415_json(anyone, alice, charset):
    body = b'{"username": "alice", "password": "whatever"}'
    response = anyone.generic("POST", "/api/auth/login/", body, content_type=f"application/json; charset={charset}")
    assert_json_error(response, 415)


@pytest.mark.parametrize("path", API_POSTS)
@pytest.mark.parametrize("charset", ["rot13", "bogus"])
def test_every_api_endpoint_refuses_a_bogus_charset_with_415_json(signed_in, alice_bob, path, charset):
    response = signed_in.generic("POST", path.format(id=alice_bob.pk), b"{}", content_type=f"application/json; charset={charset}")
    assert_json_error(response, 415)


def test_a_non_text_charset_on_a_plain_page_is_415_json(anyone, db):
    response = anyone.generic("POST", "/accounts/login/", b"a=1", content_type="application/x-www-form-urlencoded; charset=rot13")
    assert_json_error(response, 415, "unsupported_charset")


def test_utf8_spelled_either_way_is_accepted(anyone, alice):
    from tests.support.cast import PASSWORD

    for charset in ["utf-8", "UTF8"]:
        body = f'{{"username": "alice", "password": "{PASSWORD}"}}'.encode()
        response = anyone.generic("POST", "/api/auth/login/", body, content_type=f"application/json; charset={charset}")
        assert response.status_code == 200


# --- hosts, unknown paths, methods, crashes -------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/me/", "/accounts/login/"])
def test_a_disallowed_host_is_400_json(anyone, db, path):
    assert_json_error(anyone.get(path, HTTP_HOST="evil.example"), 400, "bad_host")


def test_an_unknown_api_path_is_404_json(anyone, db):
    assert_json_error(anyone.get("/api/no-such-thing/"), 404, "not_found")


def test_an_unknown_api_path_is_404_json_in_debug_too(anyone, db, settings):
    settings.DEBUG = True
    assert_json_error(anyone.get("/api/no-such-thing/"), 404, "not_found")


def test_a_wrong_method_on_an_api_path_is_405_json_with_allow(signed_in):
    response = signed_in.put("/api/auth/login/")
    assert_json_error(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


def test_a_crash_on_an_api_path_is_500_json(signed_in, monkeypatch):
    from accounts import api

    def crash(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(api.MeView, "get", crash)
    assert_json_error(signed_in.get("/api/me/"), 500, "server_error")


def test_pages_outside_the_api_keep_their_html_errors(anyone, db):
    response = anyone.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_too_many_query_fields_is_400_json_in_debug_too(signed_in, settings):
    settings.DEBUG = True
    assert_json_error(signed_in.get(f"/api/conversations/?{TOO_MANY_FIELDS}"), 400)


def database_down(**kwargs):
    from django.db import OperationalError

    raise OperationalError("connection refused")


def test_a_lost_database_is_a_503_json_error_with_retry_after_over_rest_and_on_pages(alice, login, monkeypatch):
    from messaging import selectors

    session = login(alice)
    monkeypatch.setattr(selectors, "user_conversations", database_down)  # read by the REST list
    monkeypatch.setattr(selectors, "user_conversation", database_down)  # read by the conversation page

    for response in (session.bearer().get("/api/conversations/"), session.client.get("/conversations/1/")):
        assert_json_error(response, 503, "unavailable")
        assert response["Retry-After"] == "5"

"""GET /api/users/?q= finds people to start a conversation with."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tests.support.cast import PASSWORD


@pytest.mark.parametrize("query", ["", "   "])
def test_the_user_search_needs_a_query(alice, login, query):
    assert login(alice).bearer().get("/api/users/", {"q": query}).json() == []


def test_the_user_search_finds_active_people_but_not_the_caller(alice, bob, carol, login):
    get_user_model().objects.create_user(username="bobby", password=PASSWORD, is_active=False)
    rob = get_user_model().objects.create_user(username="rob", password=PASSWORD)
    client = login(alice).bearer()
    assert client.get("/api/users/", {"q": "OB"}).json() == [
        {"id": bob.pk, "username": "bob"},
        {"id": rob.pk, "username": "rob"},
    ]
    assert client.get("/api/users/", {"q": "alice"}).json() == []


def test_the_user_search_needs_a_login(db):
    response = APIClient().get("/api/users/", {"q": "a"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"

"""HTTP against a real daphne for the operations tests: probes, /metrics and an admin session.

    status, body = http_get(server, "/readyz")                # bounded; (status, bytes)
    families = scrape(server)                                 # {name: prometheus Metric}
    admin = AdminSession(server, "root")                      # logs in through /admin/login/
    status, page = admin.get("/admin/live-connections/")
    admin.post("/admin/live-connections/", {"action": "disconnect", "_selected_action": [cid]})
"""

from __future__ import annotations

import http.client
import json
import re
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cast import PASSWORD

WAIT = 5.0


def http_get(server, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET a path from a daphne server; return (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=WAIT)
    try:
        connection.request("GET", path, headers=headers or {})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def http_json(server, path: str, **options) -> tuple[int, dict]:
    status, body = http_get(server, path, **options)
    return status, json.loads(body)


def scrape(server, **options) -> dict:
    """Return this server's /metrics as {family name: prometheus_client Metric}."""
    status, body = http_get(server, "/metrics", **options)
    assert status == 200, body[:300]
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


def sample(families: dict, name: str, **labels: str) -> float:
    """Return one sample's value (0 when the series does not exist)."""
    for family in families.values():
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return 0.0


class AdminSession:
    """A browser-less admin login against a daphne server (cookies and CSRF token kept)."""

    def __init__(self, server, username: str) -> None:
        self.server = server
        self.cookies: dict[str, str] = {}
        self._request("GET", "/admin/login/")
        status, _ = self._request(
            "POST", "/admin/login/", {"username": username, "password": PASSWORD, "next": "/admin/"}
        )
        assert status == 302 and "sessionid" in self.cookies, f"admin login of {username} failed: {status}"

    def get(self, path: str) -> tuple[int, str]:
        status, body = self._request("GET", path)
        return status, body.decode()

    def post(self, path: str, form: dict) -> int:
        return self._request("POST", path, form)[0]

    def _request(self, method: str, path: str, form: dict | None = None) -> tuple[int, bytes]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), "Host": f"127.0.0.1:{self.server.port}"}
        body = None
        if form is not None:
            form = {**form, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.server.http_url + path
        connection = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=WAIT)
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            for header in answer.headers.get_all("Set-Cookie") or ():
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return answer.status, answer.read()
        finally:
            connection.close()


def listed_connection_ids(page: str) -> list[str]:
    """Return the connection ids the live-connections page offers to select."""
    return re.findall(r'<input type="checkbox" name="_selected_action" value="([^"]+)"', page)

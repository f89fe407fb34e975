"""Settings come from the environment: production passes `check --deploy`, bad values stop start-up by name."""

from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "dedwen" / "settings.py"


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DEDWEN_") or key == "DEDWEN_SQLITE_PATH"}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


def load_settings(monkeypatch, **env: str) -> dict:
    """Execute the settings module afresh under the given environment (the running settings stay as they are)."""
    for key in list(os.environ):
        if key.startswith("DEDWEN_") and key != "DEDWEN_SQLITE_PATH":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return runpy.run_path(str(SETTINGS))


PRODUCTION = {"DEDWEN_DEBUG": "0", "DEDWEN_SECRET_KEY": "k" * 50, "DEDWEN_JWT_SIGNING_KEY": "j" * 32}


def test_production_settings_pass_the_deploy_check():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEDWEN_DEBUG="0",
        DEDWEN_SECRET_KEY=secrets.token_urlsafe(48),
        DEDWEN_JWT_SIGNING_KEY=secrets.token_urlsafe(32),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_bad_value_stops_the_process_with_a_message_naming_the_variable():
    result = run_manage("check", DEDWEN_WS_RATE="abc")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEDWEN_WS_RATE='abc' is not valid" in result.stderr


def test_production_settings_are_hardened(monkeypatch):
    values = load_settings(monkeypatch, **PRODUCTION)
    assert values["DEBUG"] is False
    assert values["SIMPLE_JWT"]["SIGNING_KEY"] == "j" * 32
    assert values["SESSION_COOKIE_HTTPONLY"] and values["SESSION_COOKIE_SECURE"] and values["CSRF_COOKIE_SECURE"]
    assert values["SECURE_SSL_REDIRECT"] and values["SECURE_HSTS_SECONDS"] >= 31536000


@pytest.mark.parametrize(
    "env, named",
    [
        ({"DEDWEN_WS_RATE": "abc"}, "DEDWEN_WS_RATE"),
        ({"DEDWEN_WS_RATE": "0/30"}, "DEDWEN_WS_RATE"),
        ({"DEDWEN_WS_RATE": "60/0"}, "DEDWEN_WS_RATE"),
        ({"DEDWEN_ACCESS_TOKEN_LIFETIME": "-1"}, "DEDWEN_ACCESS_TOKEN_LIFETIME"),
        ({"DEDWEN_ACCESS_TOKEN_LIFETIME": "5m"}, "DEDWEN_ACCESS_TOKEN_LIFETIME"),
        ({"DEDWEN_WS_AUTH_TIMEOUT": "NaN"}, "DEDWEN_WS_AUTH_TIMEOUT"),
        ({"DEDWEN_WS_MAX_FRAME": "1e9"}, "DEDWEN_WS_MAX_FRAME"),
        ({"DEDWEN_PRESENCE_TTL": "-5"}, "DEDWEN_PRESENCE_TTL"),
        ({"DEDWEN_DEBUG": "maybe"}, "DEDWEN_DEBUG"),
        ({"DEDWEN_ALLOWED_HOSTS": "localhost,,example.com"}, "DEDWEN_ALLOWED_HOSTS"),
        ({"DEDWEN_LOGIN_FAILURE_LIMIT": "0"}, "DEDWEN_LOGIN_FAILURE_LIMIT"),
        ({"DEDWEN_SECRET_KEY": "short"}, "DEDWEN_SECRET_KEY"),
        ({"DEDWEN_DEBUG": "0"}, "DEDWEN_SECRET_KEY"),
        ({"DEDWEN_LOGIN_IP_FAILURE_LIMIT": "4"}, "DEDWEN_LOGIN_IP_FAILURE_LIMIT"),  # below the pair limit
        ({"DEDWEN_REFRESH_REUSE_GRACE": "-1"}, "DEDWEN_REFRESH_REUSE_GRACE"),
        ({**PRODUCTION, "DEDWEN_JWT_SIGNING_KEY": ""}, "DEDWEN_JWT_SIGNING_KEY is required"),
        ({**PRODUCTION, "DEDWEN_JWT_SIGNING_KEY": "j" * 31}, "DEDWEN_JWT_SIGNING_KEY must be at least 32 bytes"),
        ({**PRODUCTION, "DEDWEN_JWT_SIGNING_KEY": "k" * 50}, "DEDWEN_JWT_SIGNING_KEY must differ from DEDWEN_SECRET_KEY"),
        ({"DATABASE_URL": "nonsense://what"}, "DATABASE_URL"),
    ],
)
def test_bad_values_fail_loudly_naming_the_variable(monkeypatch, env, named):
    with pytest.raises(ImproperlyConfigured, match=named):
        load_settings(monkeypatch, **env)


def test_the_contract_defaults(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    values = load_settings(monkeypatch)
    assert values["ACCESS_TOKEN_LIFETIME"] == 300
    assert values["DEDWEN_WS_AUTH_TIMEOUT"] == 10
    assert values["DEDWEN_PRESENCE_TTL"] == 60
    assert values["DEDWEN_WS_MAX_FRAME"] == 65536
    assert (values["DEDWEN_WS_RATE"].burst, values["DEDWEN_WS_RATE"].per_second) == (60, 30)
    assert values["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1"]
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert "Redis" not in values["CHANNEL_LAYERS"]["default"]["BACKEND"]


def test_services_are_selected_by_their_urls(monkeypatch):
    values = load_settings(
        monkeypatch, DATABASE_URL="postgres://u:p@db.example:5432/name", REDIS_URL="redis://cache.example:6379/3"
    )
    assert values["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert "Redis" in values["CHANNEL_LAYERS"]["default"]["BACKEND"]


def test_a_production_process_without_a_jwt_signing_key_does_not_start():
    result = run_manage("check", DEDWEN_DEBUG="0", DEDWEN_SECRET_KEY=secrets.token_urlsafe(48))
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEDWEN_JWT_SIGNING_KEY is required when DEDWEN_DEBUG=0" in result.stderr


def test_in_debug_the_jwt_signing_key_defaults_to_the_secret_key(monkeypatch):
    values = load_settings(monkeypatch, DEDWEN_DEBUG="1", DEDWEN_SECRET_KEY="k" * 50)
    assert values["SIMPLE_JWT"]["SIGNING_KEY"] == "k" * 50


def test_the_dependency_floors_exclude_releases_with_known_fixes_after_them():
    import tomllib

    floors = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "Django>=5.2.19,<5.3" in floors
    assert any(spec.startswith("PyJWT>=2.12") for spec in floors)


def test_bin_serve_in_production_seeds_no_demo_users(tmp_path):
    import signal
    import socket
    import sqlite3
    import threading

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    database = tmp_path / "serve.sqlite3"
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DEDWEN_")}
    environment.pop("DATABASE_URL", None)
    environment.pop("REDIS_URL", None)
    environment.update(PRODUCTION, DEDWEN_HTTPS="0", DEDWEN_SQLITE_PATH=str(database), DEDWEN_PORT=str(port))
    server = subprocess.Popen(
        [str(ROOT / "bin" / "serve")], cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:
        for line in server.stdout:
            lines.append(line)
            if line.startswith("==> serving"):
                serving.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(timeout=180), "".join(lines)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = "".join(lines)
    assert "DEDWEN_DEBUG=0: no demo users seeded." in output
    assert "dedwen-demo-pass" not in output
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM auth_user").fetchone() == (0,)

"""Every accounts spec also checks that nothing it made the server do logged a password or a token."""

from __future__ import annotations

import logging

import pytest

from tests.accounts.leaks import assert_no_secrets


@pytest.fixture(autouse=True)
def no_secrets_in_the_logs(caplog):
    """Capture every log record at DEBUG and fail the test if one holds a password or a JWT."""
    caplog.set_level(logging.DEBUG)
    yield
    assert_no_secrets(caplog.records)

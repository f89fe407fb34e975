"""Shared fixtures. Each area keeps its own in tests/support/<area>.py."""

pytest_plugins = [
    "tests.support.cast",
    "tests.support.events",
    "tests.support.services",
    "tests.support.server",
    "tests.support.realtime",
    "tests.support.messaging",
    "tests.support.presence",
    "tests.support.browser",
]

"""Capture what services broadcast on the channel layer after their transaction commits."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest

from realtime import publish
from realtime.protocol import EVENT_FRAME


@dataclass
class Broadcasts:
    """Every (group, event) a service sent, in order; frames decoded for easy asserts."""

    sent: list[tuple[str, dict]] = field(default_factory=list)

    def groups(self) -> list[str]:
        return [group for group, _ in self.sent]

    def frames(self, group: str | None = None) -> list[dict]:
        """Return the decoded frames sent (to one group, or to all)."""
        return [
            json.loads(event["text"])
            for sent_group, event in self.sent
            if event["type"] == EVENT_FRAME and (group is None or sent_group == group)
        ]

    def of_type(self, event_type: str) -> list[tuple[str, dict]]:
        return [(group, event) for group, event in self.sent if event["type"] == event_type]


@pytest.fixture
def broadcasts(monkeypatch, django_capture_on_commit_callbacks):
    """Return a context manager recording every group event sent by on-commit callbacks inside it.

        with broadcasts() as sent:
            revoke_device(device=device, reason=...)
        assert sent.groups() == [f"device.{device.pk}"]
    """
    real_send = publish._deliver

    @contextmanager
    def capture():
        captured = Broadcasts()

        def recording_send(groups, event):
            captured.sent.extend((group, event) for group in groups)
            real_send(groups, event)

        monkeypatch.setattr(publish, "_deliver", recording_send)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                yield captured
        finally:
            monkeypatch.setattr(publish, "_deliver", real_send)

    return capture

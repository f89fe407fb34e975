"""Hostile frames at the size limit cost linear time: another socket of the process keeps being served."""

from __future__ import annotations

import pytest

from bench.parse import SHAPES, Shape
from realtime.protocol import ClientFrame, CloseCode, ErrorCode, ServerFrame
from tests.support.realtime import (
    authenticate,
    closed_with,
    next_frame,
    open_socket,
    send_frame,
)

FRAME_LIMIT = 65536  # the contract's default DEDWEN_WS_MAX_FRAME
JSON_SHAPES = [shape for shape in SHAPES if not shape.name.startswith("redaction")]


def hostile(shape: Shape) -> str:
    """Return the shape at just under the frame limit (accepted by size, so it reaches the parser)."""
    text = shape.make(FRAME_LIMIT - 64)
    assert len(text.encode("utf-8")) <= FRAME_LIMIT
    return text


def still_served(ws, ref: str) -> None:
    """Ping on a bystander socket and wait (bounded) for its pong."""
    send_frame(ws, ClientFrame.PING, {}, ref=ref)
    assert next_frame(ws, ServerFrame.PONG)["ref"] == ref


@pytest.fixture
def server(daphne_server):
    return daphne_server(DEDWEN_WS_MAX_FRAME=str(FRAME_LIMIT), DEDWEN_WS_RATE="100/100")


def test_hostile_frames_before_authentication_close_4400_while_others_are_served(server, alice, device_of):
    with open_socket(server) as bystander:
        authenticate(bystander, device_of(alice).token)
        for number, shape in enumerate(JSON_SHAPES):
            with open_socket(server) as attacker:
                attacker.send(hostile(shape))
                still_served(bystander, ref=f"before-auth-{number}")
                assert closed_with(attacker) == CloseCode.BAD_FRAME, shape.name


def test_hostile_frames_after_authentication_are_answered_with_errors_while_others_are_served(
    server, alice, bob, device_of
):
    with open_socket(server) as bystander, open_socket(server) as attacker:
        authenticate(bystander, device_of(alice).token)
        authenticate(attacker, device_of(bob).token)
        for number, shape in enumerate(JSON_SHAPES):
            attacker.send(hostile(shape))
            still_served(bystander, ref=f"after-auth-{number}")
            answer = next_frame(attacker, ServerFrame.ERROR)
            assert answer["data"]["code"] == ErrorCode.BAD_FRAME, shape.name

"""Every body a client sends is parsed as strict JSON, over REST and WebSocket alike."""

import pytest

from realtime import strictjson
from realtime.frames import BadFrame, parse_frame

NOT_STRICT = {
    "NaN": '{"body": NaN}',
    "Infinity": '{"body": -Infinity}',
    "5000-deep nesting": "[" * 5000 + "]" * 5000,
    "33-deep nesting": '{"a":' * 33 + "1" + "}" * 33,
    "5000-digit integer": '{"n": ' + "9" * 5000 + "}",
    "lone surrogate": '{"body": "a\\ud800b"}',
    "truncated": '{"body": "x"',
    "a number that overflows to infinity": '{"n": 1e400}',
    "1,025 arrays": "[" + ",".join(["[]"] * 1025) + "]",
    "unclosed string of escaped quotes": "[" * 33 + '"' + '\\"' * 20000,
    "unclosed string ending in a backslash": "[" * 33 + '"' + '\\"' * 20000 + "\\",
    "33 deep after 900 siblings": "[" + "[]," * 900 + "[" * 32 + "]" * 32 + "]",
}


@pytest.mark.parametrize("text", NOT_STRICT.values(), ids=NOT_STRICT.keys())
def test_strict_loads_refuses_what_python_json_lets_through_or_crashes_on(text):
    with pytest.raises(strictjson.StrictJSONError):
        strictjson.loads(text)


@pytest.mark.parametrize(
    "text, value",
    [
        ('{"a": "\\ud83d\\ude00"}', {"a": "\U0001f600"}),  # a surrogate pair is one character
        ('{"a":' * 32 + "1" + "}" * 32, None),
        ('"]]]][[[["', "]]]][[[["),  # brackets inside strings do not nest
        ('["' + "[{" * 30000 + '"]', ["[{" * 30000]),  # nor count as arrays and objects
        ("[" + ",".join(["[" * 31 + "]" * 31] * 33) + "]", None),  # 1,024 arrays, 32 deep
        ('{"a": "\\"[\\\\", "b": [1.5e3, -0, true, false, null]}', {"a": '"[\\', "b": [1500.0, 0, True, False, None]}),
    ],
)
def test_strict_loads_accepts_valid_json(text, value):
    parsed = strictjson.loads(text)
    if value is not None:
        assert parsed == value


def test_strict_loads_names_the_limit_a_text_breaks():
    with pytest.raises(strictjson.StrictJSONError, match="deeper than 32"):
        strictjson.loads("[" * 33 + "]" * 33)
    with pytest.raises(strictjson.StrictJSONError, match="more than 1024 arrays"):
        strictjson.loads("[" + "{}," * 1024 + "{}]")


@pytest.mark.parametrize("text", NOT_STRICT.values(), ids=NOT_STRICT.keys())
def test_a_frame_that_is_not_strict_json_is_a_bad_frame(text):
    with pytest.raises(BadFrame):
        parse_frame(text)


@pytest.mark.parametrize("text", NOT_STRICT.values(), ids=NOT_STRICT.keys())
def test_rest_answers_400_json_to_a_body_that_is_not_strict_json(alice, login, text):
    client = login(alice).bearer()
    response = client.post("/api/conversations/", data=text, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_login_refuses_a_body_that_is_not_strict_json(db):
    from rest_framework.test import APIClient

    response = APIClient().post("/api/auth/login/", data="[" * 5000, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"

"""A table of access tokens that must be refused, and why: shared by the REST and WebSocket specs.

Each case builds its token from a live, logged-in session of alice (and bob, for cross-user forgeries),
so that the only thing wrong with it is the thing the case names.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from accounts.models import Device
from accounts.services import revoke_device
from accounts.tokens import DEVICE_CLAIM, MAX_TOKEN_LENGTH, TokenFailure


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def claims_of(token: str) -> dict:
    """Return a token's claims without checking it."""
    return jwt.decode(token, options={"verify_signature": False})


def hs256(claims: dict, key: str | bytes, **header) -> str:
    """Sign claims with HMAC-SHA256 by hand, whatever the key looks like (PyJWT refuses PEM keys for HS*)."""
    head = _segment({"alg": "HS256", "typ": "JWT", **header})
    body = _segment(claims)
    key = key.encode() if isinstance(key, str) else key
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def forge(claims: dict, **header) -> str:
    """Sign claims with the server's own key: a token the server could have minted."""
    return hs256(claims, settings.SIMPLE_JWT["SIGNING_KEY"], **header)


def _rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rs256(valid: str) -> str:
    return jwt.encode(claims_of(valid), _rsa_key(), algorithm="RS256")


def _hs256_with_public_key(valid: str) -> str:
    public_pem = _rsa_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hs256(claims_of(valid), public_pem)


def _alg_none(valid: str) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims_of(valid))}."


def _tampered_signature(valid: str) -> str:
    head, body, signature = valid.split(".")
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{body}.{signature[:middle]}{flipped}{signature[middle + 1:]}"


def _tampered_claims(valid: str) -> str:
    head, _, signature = valid.split(".")
    claims = claims_of(valid) | {"exp": int(time.time()) + 86400}
    return f"{head}.{_segment(claims)}.{signature}"


def _expired(valid: str) -> str:
    now = int(time.time())
    return forge(claims_of(valid) | {"iat": now - 600, "exp": now - 1})


def _other_alg_same_key(valid: str) -> str:
    return jwt.encode(claims_of(valid), settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS512")


def _unknown_crit(valid: str) -> str:
    return forge(claims_of(valid) | {"dedwen-ext": 1}, crit=["dedwen-ext"])


def _without(claim: str) -> Callable[[str], str]:
    def build(valid: str) -> str:
        claims = claims_of(valid)
        del claims[claim]
        return forge(claims)

    return build


def _with(**changes) -> Callable[[str], str]:
    return lambda valid: forge(claims_of(valid) | changes)


def _oversized(valid: str) -> str:
    return forge(claims_of(valid) | {"pad": "x" * MAX_TOKEN_LENGTH})


@dataclass(frozen=True)
class Session:
    """What a bad-token builder may use: alice's valid tokens and device, bob's device."""

    token: str
    refresh: str
    device: Device
    other_device: Device


def session_of(mine, theirs) -> Session:
    """Build the builders' material from two minted devices (tests.support.cast.mint_device)."""
    return Session(
        token=mine.token,
        refresh=mine.refresh,
        device=Device.objects.select_related("user").get(pk=mine.device.pk),
        other_device=Device.objects.get(pk=theirs.device.pk),
    )


@dataclass(frozen=True)
class BadToken:
    name: str
    build: Callable[[Session], object]
    failure: TokenFailure
    over_http: bool = True  # False for values an Authorization header cannot carry


def _revoked(session: Session) -> str:
    revoke_device(device=session.device, reason=Device.RevokeReason.ADMIN)
    return session.token


def _inactive(session: Session) -> str:
    # An update, not save(): the device stays live, so only the user's state can refuse the token.
    type(session.device.user).objects.filter(pk=session.device.user_id).update(is_active=False)
    return session.token


def _deleted(session: Session) -> str:
    session.device.user.delete()
    return session.token


def _device_of_another_user(session: Session) -> str:
    return forge(claims_of(session.token) | {DEVICE_CLAIM: session.other_device.pk})


def _unknown_device(session: Session) -> str:
    return forge(claims_of(session.token) | {DEVICE_CLAIM: 10**9})


BAD_TOKENS = [
    BadToken("expired", lambda s: _expired(s.token), TokenFailure.EXPIRED),
    BadToken("tampered signature", lambda s: _tampered_signature(s.token), TokenFailure.INVALID),
    BadToken("tampered claims", lambda s: _tampered_claims(s.token), TokenFailure.INVALID),
    BadToken("alg none", lambda s: _alg_none(s.token), TokenFailure.INVALID),
    BadToken("RS256 with a generated key", lambda s: _rs256(s.token), TokenFailure.INVALID),
    BadToken("HS256 signed with a public key", lambda s: _hs256_with_public_key(s.token), TokenFailure.INVALID),
    BadToken("HS512 with the right key", lambda s: _other_alg_same_key(s.token), TokenFailure.INVALID),
    BadToken("unknown crit header", lambda s: _unknown_crit(s.token), TokenFailure.INVALID),
    BadToken("refresh used as access", lambda s: s.refresh, TokenFailure.WRONG_TYPE),
    BadToken("no token type", lambda s: _without("token_type")(s.token), TokenFailure.WRONG_TYPE),
    BadToken("no exp", lambda s: _without("exp")(s.token), TokenFailure.INVALID),
    BadToken("no device claim", lambda s: _without(DEVICE_CLAIM)(s.token), TokenFailure.INVALID),
    BadToken("device claim a string", lambda s: _with(**{DEVICE_CLAIM: str(s.device.pk)})(s.token), TokenFailure.INVALID),
    BadToken("user id a string", lambda s: _with(user_id=str(s.device.user_id))(s.token), TokenFailure.INVALID),
    BadToken("revoked device", _revoked, TokenFailure.REVOKED),
    BadToken("inactive user", _inactive, TokenFailure.INACTIVE),
    BadToken("deleted user", _deleted, TokenFailure.UNKNOWN_USER),
    BadToken("device of another user", _device_of_another_user, TokenFailure.INVALID),
    BadToken("unknown device", _unknown_device, TokenFailure.INVALID),
    BadToken("over 4096 characters", lambda s: _oversized(s.token), TokenFailure.MALFORMED),
    BadToken("garbage", lambda s: "garbage", TokenFailure.MALFORMED),
    BadToken("three dots of garbage", lambda s: "a.b.c", TokenFailure.INVALID),
    BadToken("empty segments", lambda s: "..", TokenFailure.INVALID),
    BadToken("JSON in the segments", lambda s: "{}.{}.{}", TokenFailure.INVALID),
    BadToken("non-ASCII", lambda s: s.token[:-1] + "é", TokenFailure.MALFORMED),
    BadToken("empty", lambda s: "", TokenFailure.MISSING, over_http=False),
    BadToken("None", lambda s: None, TokenFailure.MISSING, over_http=False),
    BadToken("an integer", lambda s: 12345, TokenFailure.MALFORMED, over_http=False),
    BadToken("bytes", lambda s: s.token.encode(), TokenFailure.MALFORMED, over_http=False),
    BadToken("a list", lambda s: [s.token], TokenFailure.MALFORMED, over_http=False),
    BadToken("a dict", lambda s: {"token": s.token}, TokenFailure.MALFORMED, over_http=False),
]

"""The population every server is measured with: users, conversations and who belongs where.

Users and conversations are numbered from 0 here; each server maps the numbers to its own ids
(R and B: number + 1; dedwen: the database ids written by bench/seed.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_SECRET = "bench-secret-for-the-raw-and-bare-servers-only-never-used-by-dedwen-000"


@dataclass(frozen=True)
class World:
    """Index ranges of the users each workload uses, and the conversations between them."""

    idle_users: int = 10_000  # users 0..idle_users-1: connect, idle ramp, burst
    pairs: int = 20  # relay / flood / message pairs: users (a, b) with one direct conversation each
    fanout_members: int = 1_000  # one conversation of this many members; the first `fanout_small` form another
    fanout_small: int = 100
    revocations: int = 10  # extra devices (dedwen only) revoked one by one
    conversations: dict[int, list[int]] = field(default_factory=dict)

    @property
    def pair_base(self) -> int:
        return self.idle_users

    @property
    def fanout_base(self) -> int:
        return self.idle_users + 2 * self.pairs

    @property
    def user_count(self) -> int:
        return self.fanout_base + self.fanout_members

    def pair(self, i: int) -> tuple[int, int]:
        """Return the two users of pair i."""
        return self.pair_base + 2 * i, self.pair_base + 2 * i + 1

    def pair_conversation(self, i: int) -> int:
        return i

    @property
    def fanout_conversation(self) -> int:
        return self.pairs

    @property
    def fanout_small_conversation(self) -> int:
        return self.pairs + 1

    def fanout_user(self, i: int) -> int:
        return self.fanout_base + i


def build(**sizes: int) -> World:
    """Return a world of the given sizes with its conversations filled in."""
    world = World(**sizes)
    for i in range(world.pairs):
        world.conversations[world.pair_conversation(i)] = list(world.pair(i))
    members = [world.fanout_user(i) for i in range(world.fanout_members)]
    world.conversations[world.fanout_conversation] = members
    world.conversations[world.fanout_small_conversation] = members[: world.fanout_small]
    return world


def save(world: World, path: Path) -> None:
    path.write_text(json.dumps(asdict(world)))


def load(path: Path | str) -> World:
    raw = json.loads(Path(path).read_text())
    raw["conversations"] = {int(k): v for k, v in raw["conversations"].items()}
    return World(**raw)


def bench_token(user_id: int, lifetime: float = 3600.0) -> str:
    """Mint the HS256 JWT the R and B servers accept (user_id claim, access type, expiry)."""
    import jwt

    claims = {"token_type": "access", "user_id": user_id, "exp": int(time.time() + lifetime)}
    return jwt.encode(claims, BENCH_SECRET, algorithm="HS256")

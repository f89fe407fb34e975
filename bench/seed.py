"""Create the bench world in dedwen's database through its own services, and write every socket's credentials.

usage (with dedwen's environment: DATABASE_URL or DEDWEN_SQLITE_PATH):
    python -m bench.seed WORLD_JSON OUT_JSON

Users and their devices are made in bulk (the suite needs 11,000 of them; a password hash each would
take minutes) and reused by the next run; conversations are opened with messaging.services; access
tokens are minted with accounts.tokens. Every run adds fresh devices for the revocation workload.
On PostgreSQL the tables are analyzed last (`_analyze`).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(world_path: str, out_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dedwen.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from accounts.models import Device
    from accounts.tokens import mint_access_token
    from bench.world import load
    from messaging import services
    from messaging.models import Conversation

    world = load(world_path)
    User = get_user_model()
    names = [f"bench{i}" for i in range(world.user_count)]
    unusable = make_password(None)
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n, password=unusable) for n in names if n not in existing], batch_size=2000)
    users = dict(User.objects.filter(username__in=names).values_list("username", "pk"))
    user_ids = [users[n] for n in names]

    devices = {d.user_id: d for d in Device.objects.live().filter(user_id__in=user_ids, client_id="bench")}
    Device.objects.bulk_create(
        [Device(user_id=uid, client_id="bench", user_agent="bench") for uid in user_ids if uid not in devices], batch_size=2000
    )
    devices = {d.user_id: d for d in Device.objects.live().filter(user_id__in=user_ids, client_id="bench")}
    tokens = [str(mint_access_token(devices[uid])) for uid in user_ids]

    conversations: dict[int, int] = {}
    for cid, members in world.conversations.items():
        creator = User.objects.get(pk=user_ids[members[0]])
        others = [user_ids[m] for m in members[1:]]
        if len(members) == 2:
            conversations[cid] = services.create_conversation(creator=creator, participant_ids=others).conversation.pk
            continue
        title = f"bench {cid} ({len(members)} members)"
        found = Conversation.objects.filter(title=title, created_by=creator).first()
        if found is None:
            found = services.create_conversation(creator=creator, participant_ids=others, title=title).conversation
        conversations[cid] = found.pk

    owner = user_ids[world.pair(0)[0]]
    revocable = Device.objects.bulk_create([Device(user_id=owner, client_id="bench-revoke") for _ in range(world.revocations)])
    revocation_tokens = [str(mint_access_token(device)) for device in revocable]
    _analyze()
    Path(out_path).write_text(
        json.dumps({"user_ids": user_ids, "tokens": tokens, "conversations": conversations, "revocation_tokens": revocation_tokens})
    )


def _analyze() -> None:
    """Give PostgreSQL's planner the statistics of what was just written, as autovacuum does in a deployment.

    Seeded moments before it is measured, the world would otherwise be planned from no statistics
    at all, or never where autovacuum is off (as on the machines the results were taken on): the
    planner then took the 1,000-member circle by nested index lookups, twice the time of the plan
    it picks with them (docs/performance.md).
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

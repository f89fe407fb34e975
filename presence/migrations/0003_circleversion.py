"""Add the circle version and the triggers that replace it (presence.circles).

Every change to an active membership, a last_seen or a visibility replaces the token, in the
transaction that makes it, whoever writes it: the services, the admin, a cascade, raw SQL.

- SQLite runs one writer at a time, so its triggers replace the token at once.
- PostgreSQL's are constraint triggers deferred to the commit. The token's row is then the last lock
  a writing transaction takes, held only while it commits. Taken at the first changed row instead,
  two transactions writing last_seen for users in opposite orders could deadlock.

The token is random rather than counted: a rolled-back change, or a table emptied by a flush, can
never bring back a token that a process still keeps data under.

Other databases get no triggers, and presence.circles keeps nothing on them.
"""

import random

from django.db import migrations, models

# (table, columns whose change matters on UPDATE); an INSERT or a DELETE always matters.
WATCHED = [
    ("messaging_membership", ["conversation_id", "user_id", "left_at"]),
    ("presence_lastseen", ["user_id", "at"]),
    ("presence_visibility", ["user_id", "visible"]),
]

SQLITE_BUMP = (
    "INSERT INTO presence_circleversion (id, token) VALUES (1, random())"
    " ON CONFLICT (id) DO UPDATE SET token = excluded.token;"
)

POSTGRESQL_FUNCTION = """
CREATE FUNCTION presence_circle_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO presence_circleversion (id, token)
        VALUES (1, floor(random() * 9007199254740991)::bigint - 4503599627370496)
        ON CONFLICT (id) DO UPDATE SET token = excluded.token;
    RETURN NULL;
END
$$
"""


# Each database's trigger events per table; an UPDATE fires only when a watched column changed.
EVENTS = {"sqlite": ["INSERT", "DELETE", "UPDATE"], "postgresql": ["INSERT OR DELETE", "UPDATE"]}


def _name(table: str, event: str) -> str:
    return f"{table}_circle_{event.split()[0].lower()}"


def _changed(columns: list[str], *, distinct: str) -> str:
    return " OR ".join(f"OLD.{column} {distinct} NEW.{column}" for column in columns)


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, columns in WATCHED:
        for event in EVENTS["sqlite"]:
            name, when = _name(table, event), ""
            if event == "UPDATE":
                event, when = f"UPDATE OF {', '.join(columns)}", f" WHEN {_changed(columns, distinct='IS NOT')}"
            statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table}{when} BEGIN {SQLITE_BUMP} END")
    return statements


def _postgresql_triggers() -> list[str]:
    statements = [POSTGRESQL_FUNCTION]
    for table, columns in WATCHED:
        for event in EVENTS["postgresql"]:
            name = _name(table, event)
            when = _changed(columns, distinct="IS DISTINCT FROM") if event == "UPDATE" else ""
            statements.append(
                f"CREATE CONSTRAINT TRIGGER {name} AFTER {event} ON {table} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
                + (f" WHEN ({when})" if when else "")
                + " EXECUTE FUNCTION presence_circle_changed()"
            )
    return statements


def add_triggers(apps, schema_editor):
    statements = {"sqlite": _sqlite_triggers, "postgresql": _postgresql_triggers}.get(schema_editor.connection.vendor)
    if statements is None:
        return
    for statement in statements():
        schema_editor.execute(statement)
    apps.get_model("presence", "CircleVersion").objects.using(schema_editor.connection.alias).create(
        id=1, token=random.randrange(-(2**52), 2**52)
    )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in EVENTS:
        return
    for table, _ in WATCHED:
        for event in EVENTS[vendor]:
            suffix = f" ON {table}" if vendor == "postgresql" else ""
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}{suffix}")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS presence_circle_changed()")


class Migration(migrations.Migration):

    dependencies = [
        ("messaging", "0002_unread_notifications"),
        ("presence", "0002_visibility"),
    ]

    operations = [
        migrations.CreateModel(
            name="CircleVersion",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ("token", models.BigIntegerField()),
            ],
        ),
        migrations.RunPython(add_triggers, drop_triggers),
    ]

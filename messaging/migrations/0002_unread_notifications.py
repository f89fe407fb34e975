import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count


def count_unread(apps, schema_editor):
    """Start every user's count at their unread notifications."""
    Notification = apps.get_model("messaging", "Notification")
    UnreadNotifications = apps.get_model("messaging", "UnreadNotifications")
    alias = schema_editor.connection.alias
    rows = (
        Notification.objects.using(alias).filter(read_at__isnull=True).order_by().values("user_id").annotate(count=Count("id"))
    )
    UnreadNotifications.objects.using(alias).bulk_create(
        (UnreadNotifications(user_id=row["user_id"], count=row["count"]) for row in rows.iterator()), batch_size=1000
    )


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('messaging', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='UnreadNotifications',
            fields=[
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to=settings.AUTH_USER_MODEL)),
                ('count', models.PositiveIntegerField(default=0)),
            ],
            options={
                'verbose_name_plural': 'unread notifications',
            },
        ),
        migrations.RunPython(count_unread, migrations.RunPython.noop),
    ]

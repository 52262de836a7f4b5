"""Notices become an outbox: written with what caused them, mailed by beat's sender, retried when
the mail server refuses (marketplace/notifications.py). The rows before were mailed already."""

from django.db import migrations, models
from django.db.models import F


def mailed_before(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("marketplace", "Notice").objects.update(mailed_at=F("created_at"), attempts=1)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0017_user_email_notifications_notice")]

    operations = [
        migrations.RenameField("notice", "sent_at", "created_at"),
        migrations.AlterModelOptions(name="notice", options={"ordering": ["-created_at"]}),
        migrations.AddField("notice", "body", models.TextField(default=""), preserve_default=False),
        migrations.AddField("notice", "mailed_at", models.DateTimeField(blank=True, null=True)),
        migrations.AddField("notice", "attempts", models.PositiveSmallIntegerField(default=0)),
        migrations.AddField(
            "notice",
            "next_attempt_at",
            models.DateTimeField(
                blank=True,
                null=True,
                help_text="When the sender tries again; empty once mailed or given up",
            ),
        ),
        migrations.AddField("notice", "last_error", models.CharField(blank=True, max_length=300)),
        migrations.AddIndex(
            "notice",
            models.Index(
                condition=models.Q(next_attempt_at__isnull=False),
                fields=["next_attempt_at"],
                name="notice_to_mail",
            ),
        ),
        migrations.RunPython(mailed_before, migrations.RunPython.noop),
    ]

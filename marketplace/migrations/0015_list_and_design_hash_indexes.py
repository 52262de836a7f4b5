from django.db import migrations, models


class Migration(migrations.Migration):
    """A customer's job list and a shop's orders read one page in their order (not every row of
    the customer's or the shop's, sorted); the indexer's DesignRegistered handler finds a
    registered hash's files by the hash."""

    dependencies = [
        ("marketplace", "0014_job_requires_machine_attestation"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="designfile",
            index=models.Index(fields=["sha256"], name="designfile_sha256"),
        ),
        migrations.AddIndex(
            model_name="job",
            index=models.Index(
                fields=["organization", "-created_at", "-id"], name="job_org_newest"
            ),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["shop", "-created_at", "-id"], name="order_shop_newest"),
        ),
    ]

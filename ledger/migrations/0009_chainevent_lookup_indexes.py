import django.db.models.fields.json
from django.db import migrations, models


class Migration(migrations.Migration):
    """Dispatch finds the unapplied events that have a handler without walking every event (those
    nothing handles stay unapplied for good); a job's page finds its AuctionHouse events by the
    job's id, a design's proof its registrations by the design's hash."""

    dependencies = [
        ("ledger", "0008_chaintx_batch_head_waits_for"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="chainevent",
            index=models.Index(
                condition=models.Q(("applied", False), ("removed", False)),
                fields=["contract", "name", "chain_id", "block_number", "log_index"],
                name="chainevent_unapplied",
            ),
        ),
        migrations.AddIndex(
            model_name="chainevent",
            index=models.Index(
                django.db.models.fields.json.KeyTransform("jobId", "args"),
                condition=models.Q(("contract", "AuctionHouse")),
                name="chainevent_auction_job",
            ),
        ),
        migrations.AddIndex(
            model_name="chainevent",
            index=models.Index(
                django.db.models.fields.json.KeyTransform("designHash", "args"),
                condition=models.Q(("contract", "DesignRegistry")),
                name="chainevent_design_hash",
            ),
        ),
    ]

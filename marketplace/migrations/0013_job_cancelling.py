"""Cancelling a published job goes through the chain (issue 16): the job reads "cancelling"
until AuctionCancelled is final."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0008_chaintx_batch_head_waits_for"),
        ("marketplace", "0012_funding_window"),
    ]

    operations = [
        migrations.AlterField(
            model_name="job",
            name="status",
            field=models.CharField(
                choices=[
                    ("draft", "Draft"),
                    ("open", "Open for bids"),
                    ("revealing", "Revealing bids"),
                    ("awarded", "Awarded"),
                    ("funded", "Funded"),
                    ("in_production", "In production"),
                    ("shipped", "Shipped"),
                    ("delivered", "Delivered"),
                    ("accepted", "Accepted"),
                    ("disputed", "Disputed"),
                    ("resolved", "Resolved"),
                    ("refunded", "Refunded"),
                    ("failed", "Failed (no valid bid)"),
                    ("cancelling", "Cancelling"),
                    ("cancelled", "Cancelled"),
                ],
                default="draft",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="cancel_tx",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.chaintx",
            ),
        ),
    ]

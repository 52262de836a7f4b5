"""AuctionHouse v2 (issue 16): a funding window after the award, the delivery deadline counted
from the funding, and awards that expire unfunded."""

from datetime import timedelta

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


def fill_delivery_deadlines(apps, schema_editor):
    # Orders funded under the first AuctionHouse: its deadline was the reveal deadline plus the
    # lead time.
    Order = apps.get_model("marketplace", "Order")
    for order in Order.objects.exclude(status="awarded").select_related("job"):
        reveal = order.job.chain_reveal_deadline or order.job.reveal_deadline
        order.delivery_deadline = reveal + timedelta(days=order.lead_time_days)
        order.save(update_fields=["delivery_deadline"])


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0011_job_needed_by")]

    operations = [
        migrations.AddField(
            model_name="job",
            name="funding_window_hours",
            field=models.PositiveIntegerField(
                default=72,
                help_text="Hours the customer has to fund the escrow once the auction is awarded",
                validators=[
                    django.core.validators.MinValueValidator(1),
                    django.core.validators.MaxValueValidator(720),
                ],
            ),
        ),
        migrations.AddField(
            model_name="job",
            name="award_passes_to_runner_up",
            field=models.BooleanField(
                default=False,
                help_text="If the award is not funded in time, it goes once to the runner-up "
                "(else the job fails)",
            ),
        ),
        migrations.AddField(
            model_name="order",
            name="funding_deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="delivery_deadline",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="order",
            name="expired_shop",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="marketplace.organization",
            ),
        ),
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(
                choices=[
                    ("awarded", "Awarded, waiting for funding"),
                    ("funded", "Funded, in production"),
                    ("delivered", "Delivered, claim window open"),
                    ("released", "Accepted, escrow released"),
                    ("disputed", "Disputed"),
                    ("resolved", "Dispute resolved"),
                    ("refunded", "Refunded"),
                    ("expired", "Award expired unfunded"),
                    ("cancelled", "Cancelled before funding"),
                ],
                default="awarded",
                max_length=20,
            ),
        ),
        migrations.RunPython(fill_delivery_deadlines, migrations.RunPython.noop),
    ]

from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    """ChainTx.carrier and ChainTx.after say what they are: batch_head (the row whose batched
    transaction sends this call too) and waits_for (mined before this one is signed)."""

    dependencies = [
        ("ledger", "0007_recordleaf_scope"),
    ]

    operations = [
        migrations.RenameField(model_name="chaintx", old_name="carrier", new_name="batch_head"),
        migrations.RenameField(model_name="chaintx", old_name="after", new_name="waits_for"),
        migrations.AlterField(
            model_name="chaintx",
            name="batch_head",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="batch_members",
                to="ledger.chaintx",
            ),
        ),
    ]

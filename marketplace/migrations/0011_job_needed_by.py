from django.db import migrations, models


class Migration(migrations.Migration):
    """Job.delivery_deadline is the date the customer needs the parts by, not the order's delivery
    deadline that the contract sets from the winning lead time: it is called needed_by."""

    dependencies = [
        ("marketplace", "0010_job_chain_deadlines"),
    ]

    operations = [
        migrations.RenameField(model_name="job", old_name="delivery_deadline", new_name="needed_by"),
        migrations.AlterField(
            model_name="job",
            name="needed_by",
            field=models.DateField(verbose_name="needed by"),
        ),
    ]

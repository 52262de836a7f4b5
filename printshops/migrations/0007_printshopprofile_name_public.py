from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("printshops", "0006_part_records_certificates"),
    ]

    operations = [
        migrations.AddField(
            model_name="printshopprofile",
            name="name_public",
            field=models.BooleanField(
                default=False,
                help_text="On your public profile and on the public verification pages of the "
                "parts you make. Without it, they say “Print shop #<id>”. Customers you bid for "
                "see your name either way.",
                verbose_name="show our name publicly",
            ),
        ),
    ]

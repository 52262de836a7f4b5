"""Whether an uploaded mesh is closed (printfair.geometry's checks). Files uploaded before
keep null: not checked. Their stored volume stays; it was computed as before."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0007_pendingsignup"),
    ]

    operations = [
        migrations.AddField(
            model_name="designfile",
            name="watertight",
            field=models.BooleanField(
                blank=True, help_text="Every edge is shared by exactly two facets", null=True
            ),
        ),
        migrations.AddField(
            model_name="designfile",
            name="consistently_wound",
            field=models.BooleanField(
                blank=True,
                help_text="Every edge shared by two facets is traversed oppositely by them",
                null=True,
            ),
        ),
    ]

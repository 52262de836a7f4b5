"""Each organisation's opaque owner reference on DesignRegistry: random from now on; existing
organisations keep the keccak256 of their id, which their registrations on chain carry."""

from django.db import migrations, models
from eth_utils.crypto import keccak

import marketplace.models


def keep_existing_references(apps, schema_editor):
    Organization = apps.get_model("marketplace", "Organization")
    for organization in Organization.objects.only("pk"):
        reference = keccak(text=f"printfair/organization/{organization.pk}")
        Organization.objects.filter(pk=organization.pk).update(owner_ref="0x" + reference.hex())


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0008_designfile_mesh_checks"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="owner_ref",
            field=models.CharField(editable=False, max_length=66, null=True),
        ),
        migrations.RunPython(keep_existing_references, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="organization",
            name="owner_ref",
            field=models.CharField(
                default=marketplace.models.new_owner_ref,
                editable=False,
                max_length=66,
                unique=True,
            ),
        ),
    ]

"""Every account gets its site script key: added empty, filled one by one (a callable default is
evaluated once for the whole table, which a unique column refuses), then made unique."""

import secrets

from django.db import migrations, models

import mindbox_integration.models


def fill_site_keys(apps, schema_editor):
    Account = apps.get_model("mindbox_integration", "Account")
    for account in Account.objects.filter(site_key__isnull=True).only("pk"):
        account.site_key = secrets.token_urlsafe(18)
        account.save(update_fields=["site_key"])


class Migration(migrations.Migration):

    dependencies = [
        ("mindbox_integration", "0007_integration_send_rate_limit"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="site_key",
            field=models.CharField(editable=False, max_length=32, null=True, verbose_name="site script key"),
        ),
        migrations.RunPython(fill_site_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="account",
            name="site_key",
            field=models.CharField(
                default=mindbox_integration.models.new_site_key,
                editable=False,
                max_length=32,
                unique=True,
                verbose_name="site script key",
            ),
        ),
    ]

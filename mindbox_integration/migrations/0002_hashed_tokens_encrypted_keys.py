"""Inbound tokens become hashes, and Mindbox secret keys are encrypted (FIELD_ENCRYPTION_KEY).
Existing values are converted in place; the plaintext columns are then dropped."""

from django.db import migrations, models


def protect(apps, schema_editor):
    from django.conf import settings

    from mindbox_integration import crypto

    Integration = apps.get_model("mindbox_integration", "MindboxIntegration")
    shared_database = schema_editor.connection.vendor != "sqlite"
    if shared_database and not settings.FIELD_ENCRYPTION_KEY_FROM_ENV and Integration.objects.exclude(secret_key="").exists():
        # A key made in this process's var/ would be the only copy: the keys it encrypts
        # would be lost with the container, and other processes could not read them.
        raise RuntimeError("set FIELD_ENCRYPTION_KEY before this migration: it encrypts the stored Mindbox keys")

    Account = apps.get_model("mindbox_integration", "Account")
    for account in Account.objects.all():
        account.inbound_token_hash = crypto.token_hash(account.inbound_token)
        account.inbound_token_hint = crypto.token_hint(account.inbound_token)
        account.save(update_fields=["inbound_token_hash", "inbound_token_hint"])
    for integration in Integration.objects.exclude(secret_key=""):
        integration.secret_key_encrypted = crypto.encrypt(integration.secret_key)
        integration.save(update_fields=["secret_key_encrypted"])


class Migration(migrations.Migration):
    dependencies = [("mindbox_integration", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="account",
            name="inbound_token_hash",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="account",
            name="inbound_token_hint",
            field=models.CharField(default="", editable=False, max_length=16, verbose_name="inbound token"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="account",
            name="previous_token_hash",
            field=models.CharField(blank=True, db_index=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name="account",
            name="previous_token_valid_until",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="mindboxintegration",
            name="secret_key_encrypted",
            field=models.TextField(blank=True, editable=False),
        ),
        # Irreversible on purpose: going back would need the plaintext.
        migrations.RunPython(protect),
        migrations.RemoveField(model_name="account", name="inbound_token"),
        migrations.RemoveField(model_name="mindboxintegration", name="secret_key"),
        migrations.AlterField(
            model_name="account",
            name="inbound_token_hash",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]

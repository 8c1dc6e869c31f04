from django.db import migrations, models
from django.db.models import Max


def from_the_audit_log(apps, schema_editor):
    """Ids changed before this field existed (by managers too, who could then) are in the audit
    log: an import written before such a change must stop as well."""
    Account = apps.get_model("mindbox_integration", "Account")
    ConfigChange = apps.get_model("mindbox_integration", "ConfigChange")
    latest = (
        ConfigChange.objects.filter(object_type="account", action="changed", changes__has_key="uis_app_id")
        .exclude(account=None)
        .values("account_id")
        .annotate(at=Max("at"))
    )
    for row in latest:
        Account.objects.filter(pk=row["account_id"]).update(uis_app_id_changed_at=row["at"])


class Migration(migrations.Migration):
    dependencies = [
        ("mindbox_integration", "0010_config_version"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="uis_app_id_changed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(from_the_audit_log, migrations.RunPython.noop),
    ]

"""The "Account managers" group with the permissions a manager needs (tenancy.MANAGER_PERMISSIONS).
Permissions are normally created after all migrations (post_migrate); they are created here
first, so that the group can be given them on a fresh database too."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


# tenancy.MANAGER_PERMISSIONS as it was when this migration was written: later models (0005's
# ConfigChange) do not exist yet when it runs on a new database; 0006 adds their permission.
PERMISSIONS = {
    ("mindbox_integration", "account"): ("view", "change"),
    ("mindbox_integration", "mindboxintegration"): ("view", "change"),
    ("mindbox_integration", "operation"): ("view", "add", "change", "delete"),
    ("mindbox_integration", "notification"): ("view", "add", "change", "delete"),
    ("notifications", "inboundevent"): ("view",),
    ("notifications", "delivery"): ("view", "change"),
    ("notifications", "deliveryattempt"): ("view",),
}


def create_group(apps, schema_editor):
    from mindbox_integration import tenancy

    for label in ("mindbox_integration", "notifications"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
        app_config.models_module = None
    tenancy.ensure_managers_group(
        group_model=apps.get_model("auth", "Group"),
        permission_model=apps.get_model("auth", "Permission"),
        permissions=PERMISSIONS,
    )


def remove_group(apps, schema_editor):
    from mindbox_integration import tenancy

    apps.get_model("auth", "Group").objects.filter(name=tenancy.MANAGERS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mindbox_integration", "0003_account_managers"),
        ("notifications", "0003_event_request_id"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]

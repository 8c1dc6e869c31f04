"""Account managers read their accounts' configuration changes: the "Account managers" group
(made by 0004) gets view_configchange. Added, not set: the group keeps whatever else it has.
Permissions are created here first, as in 0004, since post_migrate runs only after all migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def add_permission(apps, schema_editor):
    from mindbox_integration import tenancy

    app_config = apps.get_app_config("mindbox_integration")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    app_config.models_module = None
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="mindbox_integration", content_type__model="configchange", codename="view_configchange"
    )
    group, _ = apps.get_model("auth", "Group").objects.get_or_create(name=tenancy.MANAGERS_GROUP)
    group.permissions.add(permission)


def remove_permission(apps, schema_editor):
    from mindbox_integration import tenancy

    group = apps.get_model("auth", "Group").objects.filter(name=tenancy.MANAGERS_GROUP).first()
    if group is not None:
        group.permissions.remove(*group.permissions.filter(codename="view_configchange"))


class Migration(migrations.Migration):
    dependencies = [
        ("mindbox_integration", "0005_configchange"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_permission, remove_permission)]

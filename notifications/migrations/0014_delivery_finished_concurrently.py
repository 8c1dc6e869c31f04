"""The index the hourly roll-up reads deliveries by (when they finished), built without blocking
writes: on PostgreSQL with CREATE INDEX CONCURRENTLY, so a big deliveries table keeps taking
inserts while it builds (hence a migration of its own, outside a transaction). SQLite (`make run`)
has no such thing and builds it plainly.

A database that built it within 0011_hourly_stats (before it moved here) keeps its index; a
concurrent build that failed leaves an invalid one on PostgreSQL, which is built again."""

from typing import Any

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.migrations.operations import AddIndex


class AddIndexConcurrentlyWherePossible(AddIndexConcurrently):
    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        connection = schema_editor.connection
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(connection.alias, model):
            return
        if connection.vendor != "postgresql":
            with connection.cursor() as cursor:
                there = self.index.name in connection.introspection.get_constraints(cursor, model._meta.db_table)
            if not there:
                AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)", [self.index.name])
            found = cursor.fetchone()
        if found and found[0]:
            return
        if found:  # left invalid by a concurrent build that failed
            schema_editor.execute(f"DROP INDEX CONCURRENTLY {schema_editor.quote_name(self.index.name)}")
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("notifications", "0013_delivery_error_codes"),
    ]

    operations = [
        AddIndexConcurrentlyWherePossible(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("finished_at__isnull", False)), fields=["finished_at"], name="delivery_finished"
            ),
        ),
    ]

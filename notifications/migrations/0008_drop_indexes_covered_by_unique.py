# The two single-column indexes are covered by the unique constraints that begin with the same
# column (delivery_event_notification, inbound_event_identity): dropping them makes each event's
# insert maintain two indexes fewer and serves the same lookups and cascades.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mindbox_integration', '0013_uis_data_api'),
        ('notifications', '0007_uis_data_api'),
    ]

    operations = [
        migrations.AlterField(
            model_name='delivery',
            name='event',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='notifications.inboundevent', verbose_name='event'),
        ),
        migrations.AlterField(
            model_name='inboundevent',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='mindbox_integration.account', verbose_name='account'),
        ),
    ]

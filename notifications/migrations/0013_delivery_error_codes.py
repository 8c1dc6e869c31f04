# Error codes beside the English text (mindbox_integration/mindbox/error_codes.py). Each column has
# a database default, so rows inserted by the previous release during the deploy are valid.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0012_bulk_job'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='error_code',
            field=models.CharField(blank=True, db_default='', default='', max_length=32, verbose_name='error code'),
        ),
        migrations.AddField(
            model_name='delivery',
            name='error_params',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict, verbose_name='error parameters'),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='error_code',
            field=models.CharField(blank=True, db_default='', default='', max_length=32, verbose_name='error code'),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='error_params',
            field=models.JSONField(blank=True, db_default=models.Value({}, output_field=models.JSONField()), default=dict, verbose_name='error parameters'),
        ),
    ]

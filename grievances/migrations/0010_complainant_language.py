# A complainant's messages are written in the language they reported in.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('grievances', '0009_resident_home_seen'),
    ]

    operations = [
        migrations.AddField(
            model_name='complainant',
            name='language',
            field=models.CharField(blank=True, max_length=10, verbose_name='language'),
        ),
    ]

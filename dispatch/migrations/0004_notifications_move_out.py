# Notifications and their deliveries move to the notifications app, tables and rows where
# they are (see notifications 0001_initial).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0003_sla_marks_and_notifications'),
    ]

    operations = [
        # state only: the tables stay, notifications takes them over
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='notification',
                    name='event',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='grievance',
                ),
                migrations.RemoveField(
                    model_name='notification',
                    name='recipient',
                ),
                migrations.DeleteModel(
                    name='Delivery',
                ),
                migrations.DeleteModel(
                    name='Notification',
                ),
            ],
            database_operations=[],
        ),
    ]

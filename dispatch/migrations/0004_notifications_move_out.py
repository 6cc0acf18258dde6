# Notifications and their deliveries move to grievances, tables and rows where they are (see
# grievances 0010_notifications_move_in).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('dispatch', '0003_sla_marks_and_notifications'),
    ]

    operations = [
        # state only: the tables stay, grievances takes them over
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

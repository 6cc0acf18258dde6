# Evaluation moves out into its own app. Its tables stay where they are: this takes the
# models out of grievances in Django's state only, and evaluation/migrations/0001_initial.py
# takes them in, with the same tables (db_table), so no row moves and none is lost.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('grievances', '0006_case_version'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='casefigure',
                    name='grievance',
                ),
                migrations.RemoveField(
                    model_name='export',
                    name='owner',
                ),
                migrations.DeleteModel(
                    name='FigureCell',
                ),
                migrations.DeleteModel(
                    name='FigureState',
                ),
                migrations.RemoveField(
                    model_name='returnvisit',
                    name='grievance',
                ),
                migrations.RemoveField(
                    model_name='returnvisit',
                    name='recorded_by',
                ),
                migrations.DeleteModel(
                    name='CaseFigure',
                ),
                migrations.DeleteModel(
                    name='Export',
                ),
                migrations.DeleteModel(
                    name='ReturnVisit',
                ),
            ],
            database_operations=[],
        ),
    ]

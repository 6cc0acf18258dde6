# The evaluation models, taken over from grievances with their tables (see grievances
# 0007_evaluation_moves_out).

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('grievances', '0007_evaluation_moves_out'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables exist already (grievances 0002_evaluation): state only.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CaseFigure',
                    fields=[
                        ('grievance', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='figure', serialize=False, to='grievances.grievance')),
                        ('nodes', models.JSONField(default=list)),
                        ('contributions', models.JSONField(default=list)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'verbose_name': 'case figure',
                        'verbose_name_plural': 'case figures',
                        'db_table': 'grievances_casefigure',
                    },
                ),
                migrations.CreateModel(
                    name='FigureState',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('last_run_at', models.DateTimeField(blank=True, null=True)),
                        ('rebuild_started_at', models.DateTimeField(blank=True, null=True)),
                        ('rebuilt_through_id', models.BigIntegerField(default=0)),
                    ],
                    options={
                        'verbose_name': 'figure refresh state',
                        'db_table': 'grievances_figurestate',
                    },
                ),
                migrations.CreateModel(
                    name='FigureCell',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('day', models.DateField()),
                        ('region_key', models.BigIntegerField(help_text='Region id, 0 for all regions.')),
                        ('department_key', models.BigIntegerField(help_text='Department id, 0 for all.')),
                        ('values', models.JSONField(default=dict)),
                    ],
                    options={
                        'verbose_name': 'figure cell',
                        'verbose_name_plural': 'figure cells',
                        'db_table': 'grievances_figurecell',
                        'constraints': [models.UniqueConstraint(fields=('region_key', 'department_key', 'day'), name='one_cell_per_key_day')],
                    },
                ),
                migrations.CreateModel(
                    name='Export',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('cases', 'Case list'), ('figures', 'Figures')], max_length=10, verbose_name='kind')),
                        ('file_type', models.CharField(choices=[('csv', 'CSV'), ('xlsx', 'Excel')], max_length=5, verbose_name='file type')),
                        ('params', models.JSONField(default=dict, verbose_name='parameters')),
                        ('status', models.CharField(choices=[('pending', 'Waiting'), ('running', 'Running'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=10, verbose_name='status')),
                        ('progress', models.PositiveSmallIntegerField(default=0, verbose_name='progress (%)')),
                        ('rows', models.PositiveIntegerField(default=0, verbose_name='rows')),
                        ('file', models.FileField(blank=True, max_length=200, upload_to='exports/', verbose_name='file')),
                        ('error', models.TextField(blank=True, verbose_name='error')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exports', to=settings.AUTH_USER_MODEL, verbose_name='owner')),
                    ],
                    options={
                        'verbose_name': 'export',
                        'verbose_name_plural': 'exports',
                        'db_table': 'grievances_export',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(condition=models.Q(('status__in', ['pending', 'running'])), fields=['created_at'], name='ex_unfinished')],
                    },
                ),
                migrations.CreateModel(
                    name='ReturnVisit',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('reason', models.CharField(choices=[('unsatisfied', 'Unsatisfied rating'), ('escalated', 'Escalated case'), ('sample', 'Random sample')], max_length=12, verbose_name='reason')),
                        ('closed_at', models.DateTimeField(verbose_name='case closed at')),
                        ('due_at', models.DateTimeField(db_index=True, verbose_name='due')),
                        ('reached', models.BooleanField(blank=True, null=True, verbose_name='reporter reached')),
                        ('satisfied', models.BooleanField(blank=True, null=True, verbose_name='satisfied')),
                        ('resolved', models.BooleanField(blank=True, null=True, verbose_name='resolved')),
                        ('note', models.TextField(blank=True, verbose_name='note')),
                        ('recorded_at', models.DateTimeField(blank=True, null=True, verbose_name='recorded at')),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('grievance', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='return_visits', to='grievances.grievance', verbose_name='case')),
                        ('recorded_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='recorded by')),
                    ],
                    options={
                        'verbose_name': 'return visit',
                        'verbose_name_plural': 'return visits',
                        'db_table': 'grievances_returnvisit',
                        'ordering': ['due_at', 'id'],
                        'indexes': [models.Index(condition=models.Q(('recorded_at', None)), fields=['due_at'], name='rv_pending_due')],
                        'constraints': [models.UniqueConstraint(fields=('grievance', 'closed_at', 'reason'), name='one_visit_per_closing_reason')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]

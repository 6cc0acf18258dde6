# Ratings become one per complainant and case (a case with several complainants hears from
# each of them), and one-tap rating links. Each existing rating was the reporter's: it goes to
# the case's reporter complainant, or its first complainant when none is marked (a duplicate's
# reporter moved in from another case), or stays the reporting account's when the case names
# nobody (a grid worker's own report).

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def assign_existing_ratings(apps, schema_editor):
    Rating = apps.get_model("grievances", "Rating")
    Complainant = apps.get_model("grievances", "Complainant")
    pending = Rating.objects.filter(complainant__isnull=True).values_list("pk", "grievance_id")
    for chunk in _chunks(list(pending), 500):
        firsts = {}
        people = Complainant.objects.filter(grievance_id__in=[g for _pk, g in chunk]).order_by(
            "-is_reporter", "position", "id"
        )
        for person_id, grievance_id in people.values_list("pk", "grievance_id"):
            firsts.setdefault(grievance_id, person_id)
        for pk, grievance_id in chunk:
            if grievance_id in firsts:
                Rating.objects.filter(pk=pk).update(complainant_id=firsts[grievance_id])


def _chunks(items, size):
    for i in range(0, len(items), size):
        yield items[i : i + size]


class Migration(migrations.Migration):

    dependencies = [
        ('grievances', '0007_evaluation_moves_out'),
    ]

    operations = [
        migrations.CreateModel(
            name='RatingLink',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token_hash', models.CharField(max_length=64)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField()),
            ],
            options={
                'verbose_name': 'rating link',
                'verbose_name_plural': 'rating links',
            },
        ),
        migrations.AlterModelOptions(
            name='rating',
            options={'ordering': ['created_at', 'id'], 'verbose_name': 'rating', 'verbose_name_plural': 'ratings'},
        ),
        migrations.AddField(
            model_name='rating',
            name='complainant',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='grievances.complainant', verbose_name='complainant'),
        ),
        migrations.AlterField(
            model_name='rating',
            name='grievance',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='ratings', to='grievances.grievance'),
        ),
        migrations.RunPython(assign_existing_ratings, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='rating',
            constraint=models.UniqueConstraint(fields=('grievance', 'complainant'), name='rating_once_per_complainant'),
        ),
        migrations.AddConstraint(
            model_name='rating',
            constraint=models.UniqueConstraint(condition=models.Q(('complainant__isnull', True)), fields=('grievance',), name='rating_once_per_account'),
        ),
        migrations.AddField(
            model_name='ratinglink',
            name='complainant',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rating_links', to='grievances.complainant'),
        ),
        migrations.AddField(
            model_name='ratinglink',
            name='grievance',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='grievances.grievance'),
        ),
        migrations.AddConstraint(
            model_name='ratinglink',
            constraint=models.UniqueConstraint(fields=('token_hash',), name='rating_link_token_unique'),
        ),
    ]

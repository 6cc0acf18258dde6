# What else named the moved models and tasks by their old place:
# - content types (and the permissions attached to them) follow the models to evaluation,
#   so that a group's permissions on return visits or exports stay granted;
# - beat's database rows that still name a task of grievances.tasks_evaluation name it in
#   evaluation.tasks (the keys of CELERY_BEAT_SCHEDULE are kept, so beat would also fix its
#   own rows when it starts; rows added by hand in the admin have other keys).

from django.db import migrations

MODELS = ["returnvisit", "casefigure", "figurecell", "figurestate", "export"]
OLD_TASKS, NEW_TASKS = "grievances.tasks_evaluation.", "evaluation.tasks."


def forward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(
        ContentType.objects.filter(app_label="evaluation", model__in=MODELS).values_list(
            "model", flat=True
        )
    )
    ContentType.objects.filter(app_label="grievances", model__in=MODELS).exclude(
        model__in=taken
    ).update(app_label="evaluation")
    _rename_tasks(apps, OLD_TASKS, NEW_TASKS)


def backward(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="evaluation", model__in=MODELS).update(
        app_label="grievances"
    )
    _rename_tasks(apps, NEW_TASKS, OLD_TASKS)


def _rename_tasks(apps, old: str, new: str) -> None:
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for row in PeriodicTask.objects.filter(task__startswith=old).only("pk", "task"):
        PeriodicTask.objects.filter(pk=row.pk).update(task=new + row.task[len(old) :])


class Migration(migrations.Migration):
    dependencies = [
        ("evaluation", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=True)]

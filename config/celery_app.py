"""The Celery application. Beat schedules are declared here, in code (STYLE.md rule 9)."""

import os
from pathlib import Path

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("printfair")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.broker_connection_retry_on_startup = True
app.conf.task_default_retry_delay = 5
app.autodiscover_tasks()

for folder in {
    app.conf.broker_transport_options.get(key)
    for key in ("data_folder_in", "data_folder_out", "processed_folder")
} - {None}:
    Path(folder).mkdir(parents=True, exist_ok=True)

app.conf.beat_schedule = {
    "purge-abandoned-uploads": {
        "task": "marketplace.tasks.purge_abandoned_uploads_task",
        "schedule": 15 * 60,
    },
}

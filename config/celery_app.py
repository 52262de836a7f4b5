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
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")
} - {None}:
    Path(folder).mkdir(parents=True, exist_ok=True)

# One sender per wallet: chain writes go to their own queue, served by one worker process.
app.conf.task_routes = {"ledger.tasks.send_chain_transactions_task": {"queue": "chain"}}

app.conf.beat_schedule = {
    "send-chain-transactions": {
        "task": "ledger.tasks.send_chain_transactions_task",
        "schedule": 2.0,
        # A pass that has not started within the interval is superseded by the next one.
        "options": {"expires": 2.0},
    },
    # Cheap when nothing waits (one query); a record waits for its batch about a second after
    # the last one came (ledger.services.anchoring).
    "seal-anchor-batches": {
        "task": "ledger.tasks.seal_anchor_batches_task",
        "schedule": 1.0,
        "options": {"expires": 1.0},
    },
    "index-chain": {
        "task": "ledger.tasks.index_chain_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "finalize-auctions": {
        "task": "marketplace.tasks.finalize_auctions_task",
        "schedule": 10.0,
        "options": {"expires": 10.0},
    },
    "expire-unfunded-awards": {
        "task": "marketplace.tasks.expire_unfunded_awards_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # E-mail a day before an award's funding deadline and a claim window's close, once each.
    "deadline-reminders": {
        "task": "marketplace.tasks.deadline_reminders_task",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    # The e-mail the moments wrote (marketplace/notifications.py): seconds after they commit.
    "send-notices": {
        "task": "marketplace.tasks.send_notices_task",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    "auto-release-escrow": {
        "task": "marketplace.tasks.auto_release_escrow_task",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    "purge-abandoned-uploads": {
        "task": "marketplace.tasks.purge_abandoned_uploads_task",
        "schedule": 15 * 60,
    },
}

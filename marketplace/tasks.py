from datetime import timedelta

from celery import shared_task

from marketplace import notifications, services
from marketplace.services import escrow

# Uploads in progress are minutes old; an hour leaves a wide margin before a part counts as lost.
ABANDONED_AFTER = timedelta(hours=1)


@shared_task  # type: ignore[untyped-decorator]
def purge_abandoned_uploads_task() -> int:
    return services.uploads_purge_abandoned(older_than=ABANDONED_AFTER)


@shared_task  # type: ignore[untyped-decorator]
def finalize_auctions_task() -> int:
    return services.auctions_finalize_due()


@shared_task  # type: ignore[untyped-decorator]
def expire_unfunded_awards_task() -> int:
    return escrow.awards_expire_due()


@shared_task  # type: ignore[untyped-decorator]
def auto_release_escrow_task() -> int:
    return escrow.escrow_auto_release_due()


@shared_task  # type: ignore[untyped-decorator]
def deadline_reminders_task() -> int:
    return notifications.deadline_reminders()


@shared_task  # type: ignore[untyped-decorator]
def send_notices_task() -> int:
    return notifications.notices_send()

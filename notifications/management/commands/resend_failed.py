from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from mindbox_integration.models import MindboxIntegration
from notifications import bulk_jobs, replay
from notifications.models import BulkJob
from notifications.tasks import enqueue_replays, start_bulk_job

ACTOR = "manage.py resend_failed"  # who the audit log says started the job


class Command(BaseCommand):
    help = (
        "Send again every delivery of an account that failed since a given time (default: the last 24 hours). "
        "Each keeps its transactionId and attempts; its retry schedule starts over. A bulk job does it, in "
        "chunks, as the admin's does: here, or with --background by the workers. --dry-run only counts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("uis_app_id", help="the account's UIS app id")
        since = parser.add_mutually_exclusive_group()
        since.add_argument("--since", help='failed at or after this time, e.g. "2026-11-24 18:00" (portal time zone)')
        since.add_argument("--hours", type=float, help="failed in the last HOURS hours")
        parser.add_argument("--dry-run", action="store_true", help="count, send nothing")
        parser.add_argument(
            "--background", action="store_true", help="queue the job for the workers and return (the admin shows it)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        integration = MindboxIntegration.objects.filter(account__uis_app_id=options["uis_app_id"]).first()
        if integration is None:
            raise CommandError(f"no account with UIS app id {options['uis_app_id']!r}")
        since = _since(options)
        failed = replay.failed_since(integration_id=integration.pk, since=since)
        if options["dry_run"]:
            self.stdout.write(f"{failed.count()} failed deliveries since {since:%Y-%m-%d %H:%M %Z} would be resent")
            return
        background = options["background"]
        job = bulk_jobs.submit(
            kind=BulkJob.Kind.RESEND_FAILED_SINCE,
            integration=integration,
            since=since,
            actor=ACTOR,
            # Run here unless asked otherwise; killed half-way, the sweeper hands the rest to a worker.
            publish=start_bulk_job if background else lambda job_id: None,
        )
        if background:
            self.stdout.write(f"bulk job {job.pk} queued for the workers")
            return
        done = bulk_jobs.run(job_id=job.pk, enqueue=enqueue_replays, chunk_size=settings.BULK_JOB_CHUNK_SIZE)
        if done is None or done.status != BulkJob.Status.DONE:
            raise CommandError(f"bulk job {job.pk} did not finish: {done.status if done else 'gone'}")
        queued = done.summary.get("queued", 0)
        self.stdout.write(f"{queued} deliveries queued again; {done.skipped} skipped (bulk job {job.pk})")


def _since(options: dict[str, Any]) -> datetime:
    if options["since"]:
        try:
            moment = datetime.fromisoformat(options["since"])
        except ValueError as exc:
            raise CommandError(
                f'--since takes a date and time like "2026-11-24 18:00", got {options["since"]!r}'
            ) from exc
        return timezone.make_aware(moment) if timezone.is_naive(moment) else moment
    return timezone.now() - timedelta(hours=options["hours"] or 24)

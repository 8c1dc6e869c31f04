"""Bulk jobs: a resend or re-render of many deliveries, done by a worker in chunks rather than
inside a web request (gunicorn's timeout, no progress).

A job's row holds its deliveries in the order they go (oldest first) and how many are done.
Each chunk is one transaction: the replay (notifications.replay, so a resend keeps the
transactionId and a re-render behaves as the single button does) and the job's progress commit
together, the progress written only if nobody else moved it meanwhile. A worker killed mid-chunk
thus leaves the chunk undone and the count where it was; whoever runs the job next (the broker
redelivers the unacknowledged message, acks_late; or resume_stalled republishes it sooner)
starts from that count. Two runners of one job never replay a chunk twice: the second's
progress write finds the count moved and rolls its chunk back. A cancel is a flag read between
chunks, so no lock of the job is held while a chunk works.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mindbox_integration import audit
from mindbox_integration.audit import Actor
from mindbox_integration.models import ConfigChange, MindboxIntegration
from notifications import replay
from notifications.models import BulkJob

log = logging.getLogger(__name__)

Publish = Callable[[int], None]  # queue a job's task (notifications.tasks.start_bulk_job)
ERROR_SAMPLES = 10  # a re-render's errors kept for the job's page; the count has them all

Kind = BulkJob.Kind
Status = BulkJob.Status


def submit(
    *,
    kind: str,
    integration: MindboxIntegration,
    actor: Actor,
    publish: Publish,
    delivery_ids: Sequence[int] = (),
    since: datetime | None = None,
) -> BulkJob:
    """A job for `delivery_ids` (RESEND, RERENDER) or for the integration's deliveries failed since
    `since` until now (RESEND_FAILED_SINCE: found when it starts). Recorded in the audit log and
    queued once committed."""
    now = timezone.now()
    actor_id, actor_label = audit.who(actor)
    fields: dict[str, Any] = {}
    if kind == Kind.RESEND_FAILED_SINCE:
        if since is None:
            raise ValueError("a resend of failed deliveries needs `since`")
        fields["parameters"] = {"since": since.isoformat(), "until": now.isoformat()}
    else:
        fields.update(delivery_ids=list(delivery_ids), total=len(delivery_ids), ids_fixed=True)
    with transaction.atomic():
        job = BulkJob.objects.create(
            kind=kind,
            integration=integration,
            requested_by_id=actor_id,
            requested_by_label=actor_label[:150],
            created_at=now,
            progress_at=now,
            **fields,
        )
        audit.record_bulk_job(actor=actor, job=job, action=ConfigChange.Action.BULK_JOB_STARTED)
        transaction.on_commit(lambda: publish(job.pk))
    return job


def cancel(*, job: BulkJob, actor: Actor) -> bool:
    """Stop the job: at once if no worker has it yet, else after the chunk in hand. False when it
    had finished already (or was being cancelled)."""
    now = timezone.now()
    _, label = audit.who(actor)
    with transaction.atomic():
        stopped = BulkJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
            status=Status.CANCELLED, cancel_requested_at=now, cancelled_by_label=label[:150], finished_at=now
        ) or BulkJob.objects.filter(pk=job.pk, status=Status.RUNNING, cancel_requested_at__isnull=True).update(
            cancel_requested_at=now, cancelled_by_label=label[:150]
        )
        if stopped:
            audit.record_bulk_job(actor=actor, job=job, action=ConfigChange.Action.BULK_JOB_CANCELLED)
    return bool(stopped)


def run(*, job_id: int, enqueue: replay.Enqueue, chunk_size: int) -> BulkJob | None:
    """Do the job (or what is left of it) chunk by chunk; what a worker's task runs. None when
    there is nothing to do: the job finished, was cancelled before it started, or is gone."""
    now = timezone.now()
    started = BulkJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, progress_at=now
    )
    job = BulkJob.objects.filter(pk=job_id).first()
    if job is None or (not started and job.status != Status.RUNNING):
        return None
    try:
        if not job.ids_fixed:
            _fix_ids(job)
            job.refresh_from_db(fields=["delivery_ids", "total", "ids_fixed"])
        while True:
            # The cancel flag, and the progress of any other runner; not the ids, fixed once and
            # large (a job of a million deliveries holds about 8 MB of them).
            job.refresh_from_db(fields=["status", "cancel_requested_at", "done_count", "summary", "skipped"])
            if job.status != Status.RUNNING:
                return job
            if job.cancel_requested_at is not None:
                return _finish(job, Status.CANCELLED)
            if job.done_count >= job.total:
                return _finish(job, Status.DONE)
            _run_chunk(job, enqueue=enqueue, chunk_size=chunk_size)
    except (OperationalError, InterfaceError):
        # The database went away: the job stays running, and resumes from its count later.
        raise
    except Exception as exc:
        _fail(job, exc)
        return job


def _fix_ids(job: BulkJob) -> None:
    """A "since" job's deliveries, as they are when it starts: failed from `since` until it was
    asked for (what fails after that, a resent one failing again among them, is not taken)."""
    since = parse_datetime(job.parameters["since"])
    until = parse_datetime(job.parameters["until"])
    assert since is not None and until is not None  # written by submit
    ids = list(
        replay.failed_since(integration_id=job.integration_id, since=since)
        .filter(finished_at__lte=until)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    BulkJob.objects.filter(pk=job.pk, ids_fixed=False).update(delivery_ids=ids, total=len(ids), ids_fixed=True)


def _run_chunk(job: BulkJob, *, enqueue: replay.Enqueue, chunk_size: int) -> None:
    start = job.done_count
    ids = job.delivery_ids[start : start + chunk_size]
    replayer = replay.rerender if job.kind == Kind.RERENDER else replay.resend
    with transaction.atomic():
        result = replayer(delivery_ids=ids, enqueue=enqueue)
        moved = BulkJob.objects.filter(pk=job.pk, status=Status.RUNNING, done_count=start).update(
            resumes=0,  # it moves again
            done_count=start + len(ids),
            skipped=F("skipped") + result.skipped,
            summary=merged_summary(job.summary, result),
            progress_at=timezone.now(),
        )
        if not moved:
            # Another runner did this chunk, or the job ended meanwhile: undo ours (and its wake-up).
            transaction.set_rollback(True)


def merged_summary(summary: dict[str, Any], result: replay.Replayed) -> dict[str, Any]:
    """The job's summary with one chunk's result added."""
    samples = list(summary.get("error_samples", []))
    # Each as stored (text, code, parameters), so the job's page says it in the admin's language.
    samples += [
        [pk, {"text": error.text, "code": error.code, "params": dict(error.params)}]
        for pk, error in result.errors.items()
    ][: max(0, ERROR_SAMPLES - len(samples))]
    return {
        "queued": summary.get("queued", 0) + len(result.queued),
        "held": summary.get("held", 0) + len(result.held),
        "errors": summary.get("errors", 0) + len(result.errors),
        "error_samples": samples,
    }


def _finish(job: BulkJob, status: str) -> BulkJob:
    BulkJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(status=status, finished_at=timezone.now())
    job.refresh_from_db()
    if job.status == status:
        log.info("bulk job %d %s: %d of %d done, %d skipped", job.pk, status, job.done_count, job.total, job.skipped)
    return job


def _fail(job: BulkJob, exc: BaseException) -> None:
    log.exception("bulk job %d failed", job.pk)
    # The type only: an error's text may quote a statement and the values in it.
    BulkJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=Status.FAILED, error=type(exc).__name__, finished_at=timezone.now()
    )


# Resumes in a row without progress before a job fails: with BULK_JOB_STALL_SECONDS (300), an hour.
MAX_RESUMES = 12


def resume_stalled(*, now: datetime, stall_seconds: float, publish: Publish) -> list[int]:
    """Queue again the jobs that have shown no progress for `stall_seconds`: a running one whose
    worker was killed (Redis would redeliver its message only after the visibility timeout, an
    hour), or a queued one whose message was never published (the broker was down). Each is
    queued once per stall period; a second runner of a live job does no harm (module docstring)."""
    stale = now - timedelta(seconds=stall_seconds)
    resumed = []
    for pk in BulkJob.objects.filter(status__in=BulkJob.UNFINISHED, progress_at__lt=stale).values_list("pk", flat=True):
        still = BulkJob.objects.filter(pk=pk, status__in=BulkJob.UNFINISHED, progress_at__lt=stale)
        if still.filter(resumes__gte=MAX_RESUMES).update(
            status=Status.FAILED, error=f"no progress after being queued again {MAX_RESUMES} times", finished_at=now
        ):
            log.warning("bulk job %d made no progress after %d resumes: failed", pk, MAX_RESUMES)
            continue
        if still.update(progress_at=now, resumes=F("resumes") + 1):
            publish(pk)
            resumed.append(pk)
    return resumed

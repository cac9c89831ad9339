"""Batch jobs in the database: the job, its items (inputs) and their outputs (the checkpoint).

- `create_job` validates the items (each a JSON object with "inputs"; `ValidationFailed` on
  field `items[i]`) and stores the job QUEUED with one row per item, in input order.
- `record_output` stores one item's output line only if none is stored yet (a conditional
  update): two attempts racing on an item store one output, and a resumed run never changes a
  finished item.
- `pending_items` lists what is left to run; `describe_job` gives progress; `output_lines`
  yields the output JSONL in input order: `{"index": i, "output": ...}` or
  `{"index": i, "error": {...}}` per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.db import models as orm
from backend.db.models import utcnow
from backend.errors import ValidationFailed

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
MAX_ITEMS = 100_000
MAX_CONCURRENCY = 64


def _rows(result: Result[Any]) -> int:
    """Rows an UPDATE/DELETE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


def prepare_items(items: Sequence[Any], concurrency: object) -> list[str]:
    """The items as request bodies (JSON text), or `ValidationFailed` naming the bad field."""
    if not items:
        raise ValidationFailed("items", "give at least one input")
    if len(items) > MAX_ITEMS:
        raise ValidationFailed("items", f"at most {MAX_ITEMS} inputs per job")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise ValidationFailed("concurrency", "must be an integer")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValidationFailed("concurrency", f"must be between 1 and {MAX_CONCURRENCY}")
    lines = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or "inputs" not in item:
            raise ValidationFailed(f"items[{index}]", 'must be a JSON object with "inputs"')
        if "parameters" in item and not isinstance(item["parameters"], dict):
            raise ValidationFailed(f"items[{index}].parameters", "must be a JSON object")
        body = {"inputs": item["inputs"]}
        if "parameters" in item:
            body["parameters"] = item["parameters"]
        lines.append(json.dumps(body, separators=(",", ":")))
    return lines


def create_job(
    session: Session,
    *,
    model: str,
    items: Sequence[Any],
    concurrency: int,
    key_id: str | None,
) -> orm.BatchJob:
    lines = prepare_items(items, concurrency)
    job = orm.BatchJob(
        model=model, key_id=key_id, status=QUEUED, concurrency=concurrency, total=len(lines)
    )
    session.add(job)
    session.flush()
    session.execute(
        insert(orm.BatchItem),
        [{"job_id": job.id, "idx": i, "input": line} for i, line in enumerate(lines)],
    )
    return job


def set_status(
    session: Session, *, job_id: str, status: str, error: str | None = None
) -> orm.BatchJob | None:
    job = session.get(orm.BatchJob, job_id)
    if job is None:
        return None
    if job.status in (SUCCEEDED, FAILED):
        return job  # final; a replayed activity changes nothing
    now = utcnow()
    job.status = status
    if status == RUNNING and job.started_at is None:
        job.started_at = now
    if status in (SUCCEEDED, FAILED):
        job.completed_at = now
        job.error = error
    return job


def pending_items(session: Session, *, job_id: str) -> list[tuple[int, str]]:
    rows = session.execute(
        select(orm.BatchItem.idx, orm.BatchItem.input)
        .where(orm.BatchItem.job_id == job_id, orm.BatchItem.output.is_(None))
        .order_by(orm.BatchItem.idx)
    )
    return [(int(idx), str(line)) for idx, line in rows]


def record_output(
    session: Session, *, job_id: str, index: int, output: Any = None, error: Any = None
) -> bool:
    """Store item `index`'s output (or error) if it has none yet; True if this call stored it."""
    ok = error is None
    line = {"index": index, "output": output} if ok else {"index": index, "error": error}
    return (
        _rows(
            session.execute(
                update(orm.BatchItem)
                .where(
                    orm.BatchItem.job_id == job_id,
                    orm.BatchItem.idx == index,
                    orm.BatchItem.output.is_(None),
                )
                .values(output=json.dumps(line, separators=(",", ":")), ok=ok)
                .execution_options(synchronize_session=False)
            )
        )
        == 1
    )


def describe_job(session: Session, job: orm.BatchJob) -> dict[str, Any]:
    counts = session.execute(
        select(orm.BatchItem.ok, func.count())
        .where(orm.BatchItem.job_id == job.id, orm.BatchItem.output.is_not(None))
        .group_by(orm.BatchItem.ok)
    ).all()
    by_ok = {bool(ok): int(n) for ok, n in counts}

    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": job.id,
        "model": job.model,
        "status": job.status,
        "total": job.total,
        "completed": by_ok.get(True, 0) + by_ok.get(False, 0),
        "failed": by_ok.get(False, 0),
        "concurrency": job.concurrency,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
        "error": job.error,
    }


def output_lines(
    sessions: sessionmaker[Session], job_id: str, *, page: int = 1000
) -> Iterator[str]:
    """The output JSONL of a job, in input order, read page by page (one line per item)."""
    after = -1
    while True:
        with sessions() as session:
            rows = session.execute(
                select(orm.BatchItem.idx, orm.BatchItem.output)
                .where(orm.BatchItem.job_id == job_id, orm.BatchItem.idx > after)
                .order_by(orm.BatchItem.idx)
                .limit(page)
            ).all()
        if not rows:
            return
        for idx, output in rows:
            yield (output or json.dumps({"index": idx, "error": {"type": "pending"}})) + "\n"
        after = int(rows[-1][0])

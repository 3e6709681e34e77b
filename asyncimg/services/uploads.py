"""Requesting, reading and cancelling uploads on behalf of one owner."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import router, transaction
from django.db.models import Exists, F, Q, Subquery
from django.utils import timezone
from django.utils.crypto import salted_hmac

from asyncimg import metrics, tracing
from asyncimg.conf import app_settings
from asyncimg.errors import (
    AsyncImgError,
    ConfigurationError,
    FileTooLarge,
    NotFound,
    QuotaExceeded,
    RateLimited,
    TooManyFiles,
    UnsupportedContentType,
    ValidationError,
)
from asyncimg.models import Upload, UploadLimit, UploadStatus
from asyncimg.services.filenames import sanitize_filename
from asyncimg.services.owners import Owner
from asyncimg.services.state import UploadState
from asyncimg.services.transitions import publish_failure, transition
from asyncimg.storage import PresignedPost, get_backend

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True)
class FileSpec:
    """What a client declares about a file it wants to upload."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Ticket:
    upload: UploadState
    presigned_post: PresignedPost


@dataclass(frozen=True)
class _Clean:
    filename: str
    content_type: str
    size: int


def _validate(spec: FileSpec) -> _Clean:
    content_type = spec.content_type.split(";", 1)[0].strip().lower()
    allowed = app_settings.ALLOWED_CONTENT_TYPES
    if content_type not in allowed:
        raise UnsupportedContentType(
            f"{spec.content_type[:100]!r} is not accepted; upload one of: {', '.join(allowed)}."
        )
    limit = app_settings.PRESIGNED_URL_CONTENT_LENGTH
    if spec.size > limit:
        raise FileTooLarge(
            f"The file has {spec.size} bytes; the largest accepted is {limit} bytes."
        )
    if spec.size <= 0:
        raise ValidationError("size must be a positive number of bytes.", code="INVALID_SIZE")
    return _Clean(sanitize_filename(spec.filename), content_type, spec.size)


def _survey(owner: Owner, cleaned: Sequence[_Clean], now: datetime, using: str) -> dict[str, Any]:
    """One query for a whole request: whether the owner's recent and pending uploads leave room
    for 1..N more (rate limit, quota), and per file the id of a live credential it may reuse
    (``reuse<N>``).

    Bounded whatever the owner's history: the rate limit is "is there a row at offset
    ``limit - n`` among the recent ones", not a count of them all, so each subquery reads at most
    ``limit`` (or ``quota``) entries of an index (``asyncimg_owner_created``,
    ``asyncimg_owner_pending``), and a reuse lookup only the owner's live credentials.
    """
    limit, seconds = app_settings.RATE_LIMIT
    quota = app_settings.MAX_PENDING_PER_OWNER
    window = app_settings.PRESIGNED_URL_REUSE_WINDOW
    mine = Upload.objects.using(using).filter(owner.filter)
    recent = mine.filter(created_at__gte=now - timedelta(seconds=seconds)).order_by()
    pending = mine.filter(status=UploadStatus.PENDING, expires_at__gt=now).order_by()
    checks: dict[str, Any] = {}
    for wanted in range(1, len(cleaned) + 1):
        # "count + wanted > cap" is "a row exists at offset cap - wanted".
        for name, rows, cap in (("recent", recent, limit), ("pending", pending, quota)):
            if cap - wanted >= 0:
                checks[f"{name}_full{wanted}"] = Exists(rows[cap - wanted : cap - wanted + 1])
    if window > 0:
        reusable = pending.filter(expires_at__gt=now + timedelta(seconds=window))
        for index, clean in enumerate(cleaned):
            same_file = reusable.filter(
                filename=clean.filename, content_type=clean.content_type, size=clean.size
            )
            checks[f"reuse{index}"] = Subquery(same_file.values("pk")[:1])
    if not checks:
        return {}
    # The owner's UploadLimit row (created before the transaction) is the one row to select from.
    row = (
        UploadLimit.objects.using(using)
        .filter(key=owner.group_key)
        .annotate(**checks)
        .values(*checks)
        .first()
    )
    return row or {}


def _check_limits(survey: dict[str, Any], wanted: int) -> None:
    limit, seconds = app_settings.RATE_LIMIT
    if wanted > limit or survey.get(f"recent_full{wanted}"):
        raise RateLimited(
            f"At most {limit} uploads per {seconds} seconds; try again later.",
        )
    quota = app_settings.MAX_PENDING_PER_OWNER
    if wanted > quota or survey.get(f"pending_full{wanted}"):
        raise QuotaExceeded(
            f"At most {quota} uploads may be pending at once; finish or cancel some first."
        )


def _ticket(upload: Upload) -> Ticket:
    return Ticket(
        upload=UploadState.from_model(upload),
        presigned_post=PresignedPost(
            url=upload.presigned_url,
            fields=dict(upload.presigned_fields),
            expires_at=upload.expires_at,
            method=upload.presigned_method,
            headers=dict(upload.presigned_headers),
        ),
    )


def request_uploads(owner: Owner, specs: Sequence[FileSpec]) -> list[Ticket]:
    """Validate every file, then sign one single-object POST credential per file.

    All or nothing: one invalid file rejects the whole request, and nothing is created. A file the
    same owner asked for inside the reuse window gets its live credential back instead of a new row.
    """
    start = tracing.started()
    try:
        tickets, new = _request_uploads(owner, specs)
    except AsyncImgError as exc:
        metrics.credential_refused(exc.code)
        raise
    metrics.credentials_issued(len(new), len(tickets) - len(new))
    tracing.credential_spans(new, start)  # reused credentials already opened their trace
    return tickets


def _request_uploads(owner: Owner, specs: Sequence[FileSpec]) -> tuple[list[Ticket], list[str]]:
    bucket = app_settings.BUCKET
    if not bucket:
        raise ConfigurationError("Uploads are not configured (ASYNC_IMAGE_UPLOAD_BUCKET).")
    cap = app_settings.MAX_FILES_PER_REQUEST
    if not specs:
        raise ValidationError("Ask for at least one file.", code="BAD_USER_INPUT")
    if len(specs) > cap:
        raise TooManyFiles(f"At most {cap} files per request; split the request.")
    cleaned = [_validate(spec) for spec in specs]
    using = router.db_for_write(Upload)
    anonymous_key = _client_key(owner.client_ip) if owner.user_id is None else None
    _ensure_limit_rows([owner.group_key, *filter(None, [anonymous_key])], using)
    with transaction.atomic(using=using):
        # Held until commit: this owner's concurrent requests queue here, so each one's counts
        # include the rows the previous one inserted.
        _lock(owner.group_key, using)
        now = timezone.now()
        survey = _survey(owner, cleaned, now, using)
        # A file asked for twice in one batch reuses nothing the second time: two files, two
        # uploads.
        reuse_ids: dict[int, str] = {}
        for index in range(len(cleaned)):
            found = survey.get(f"reuse{index}")
            if found and str(found) not in reuse_ids.values():
                reuse_ids[index] = str(found)
        reused: dict[int, Upload] = {}
        if reuse_ids:
            rows = Upload.objects.using(using).in_bulk([uuid.UUID(pk) for pk in reuse_ids.values()])
            reused = {index: rows[uuid.UUID(pk)] for index, pk in reuse_ids.items()}
        new_indexes = [i for i in range(len(cleaned)) if i not in reused]
        if new_indexes:
            _check_limits(survey, len(new_indexes))
            if anonymous_key is not None:
                _count_anonymous(anonymous_key, len(new_indexes), now, using)
        created = _create(owner, {i: cleaned[i] for i in new_indexes}, now, using)
    tickets = [_ticket(reused.get(i) or created[i]) for i in range(len(cleaned))]
    return tickets, [str(upload.pk) for upload in created.values()]


def _client_key(client_ip: str | None) -> str | None:
    if not client_ip:
        return None
    return "ip:" + salted_hmac("asyncimg.client", client_ip, algorithm="sha256").hexdigest()[:40]


def _ensure_limit_rows(keys: list[str], using: str) -> None:
    """Create the ``UploadLimit`` rows to lock, before the transaction: inserting (or finding)
    them inside it would take InnoDB's shared lock on the duplicate key first, and two requests
    upgrading their shared locks deadlock."""
    UploadLimit.objects.using(using).bulk_create(
        [UploadLimit(key=key) for key in keys], ignore_conflicts=True
    )


def _lock(key: str, using: str) -> None:
    """Lock the ``UploadLimit`` row of ``key`` until the transaction ends. An UPDATE, not
    ``select_for_update``: a row lock on PostgreSQL and MariaDB/MySQL, and on SQLite (where
    ``FOR UPDATE`` does not exist) the database's write lock, taken before anything is read, so
    that writers queue instead of failing with "database is locked"."""
    UploadLimit.objects.using(using).filter(key=key).update(count=F("count"))


def _count_anonymous(key: str, wanted: int, now: datetime, using: str) -> None:
    """The per-address window of anonymous owners: every session from one address shares it."""
    limit, seconds = app_settings.ANONYMOUS_RATE_LIMIT
    _lock(key, using)
    row = UploadLimit.objects.using(using).get(key=key)
    if row.window_start is None or row.window_start <= now - timedelta(seconds=seconds):
        row.window_start, row.count = now, 0
    if row.count + wanted > limit:
        raise RateLimited(
            f"At most {limit} anonymous uploads per {seconds} seconds from one address; try "
            "again later or log in."
        )
    row.count += wanted
    row.save(using=using, update_fields=["window_start", "count"])


def _create(
    owner: Owner, cleaned: dict[int, _Clean], now: datetime, using: str
) -> dict[int, Upload]:
    backend = get_backend()
    expires_in = app_settings.PRESIGNED_URL_EXPIRATION
    prefix = app_settings.TEMPORARY_IMAGE_PATH
    created: dict[int, Upload] = {}
    for index, clean in cleaned.items():
        upload_id = uuid.uuid4()
        key = f"{prefix}{upload_id}/{clean.filename}"
        # Signed locally by botocore: no network call while the owner's row is locked.
        post = backend.presigned_post(
            key=key, content_type=clean.content_type, max_size=clean.size, expires_in=expires_in
        )
        created[index] = Upload(
            id=upload_id,
            filename=clean.filename,
            content_type=clean.content_type,
            size=clean.size,
            key=key,
            presigned_url=post.url,
            presigned_fields=post.fields,
            presigned_method=post.method,
            presigned_headers=post.headers,
            expires_at=post.expires_at,
            created_at=now,
            updated_at=now,
            **owner.create_kwargs(),
        )
    if created:
        Upload.objects.using(using).bulk_create(created.values())
    return created


def request_upload(owner: Owner, spec: FileSpec) -> Ticket:
    return request_uploads(owner, [spec])[0]


def parse_upload_id(value: Any) -> uuid.UUID:
    """An upload id from a client; anything that is not a UUID is simply not found."""
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("No such upload.") from None


def get_upload(owner: Owner, upload_id: Any) -> UploadState:
    """The owner's upload; somebody else's is NOT_FOUND, exactly like an unknown id."""
    pk = parse_upload_id(upload_id)
    upload = Upload.objects.select_related("image").filter(owner.filter, pk=pk).first()
    if upload is None:
        raise NotFound("No such upload.")
    return UploadState.from_model(upload)


def cancel_upload(owner: Owner, upload_id: Any) -> UploadState:
    """Cancel a live upload (FAILED with code CANCELLED). A finished one is returned unchanged.

    The change is published and ``upload_failed`` is sent once it commits; nothing is sent when
    the upload was already finished.
    """
    pk = parse_upload_id(upload_id)
    if not Upload.objects.filter(owner.filter, pk=pk).exists():
        raise NotFound("No such upload.")
    state = transition(
        pk,
        UploadStatus.FAILED,
        error_code="CANCELLED",
        error_message="Cancelled by the owner.",
        on_commit=publish_failure,
    )
    return state or get_upload(owner, pk)


@dataclass(frozen=True)
class Page:
    items: list[tuple[str, UploadState]]
    has_next_page: bool
    has_previous_page: bool
    total_count: int


def encode_cursor(upload: Upload) -> str:
    raw = f"{upload.created_at.isoformat()}|{upload.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, pk = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(created), uuid.UUID(pk)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValidationError(
            "Invalid cursor: pass a cursor from a previous `uploads` page (pageInfo.endCursor "
            "or an edge's cursor) unchanged, or omit `after` for the first page.",
            code="INVALID_CURSOR",
        ) from exc


def list_uploads(
    owner: Owner, *, status: str | None = None, first: int | None = None, after: str | None = None
) -> Page:
    """The owner's uploads, newest first, keyset-paginated: three queries whatever the page size."""
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"first must be between 0 and {MAX_PAGE_SIZE}.", code="INVALID_PAGE")
    base = Upload.objects.filter(owner.filter)
    if status is not None:
        base = base.filter(status=status)
    rows = base.select_related("image").order_by("-created_at", "-id")
    if after:
        created, pk = decode_cursor(after)
        rows = rows.filter(Q(created_at__lt=created) | Q(created_at=created, id__lt=pk))
    fetched = list(rows[: size + 1])
    return Page(
        items=[(encode_cursor(u), UploadState.from_model(u)) for u in fetched[:size]],
        has_next_page=len(fetched) > size,
        has_previous_page=bool(after),
        total_count=base.count(),
    )

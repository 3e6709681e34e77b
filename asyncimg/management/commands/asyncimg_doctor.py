"""``manage.py asyncimg_doctor``: check the real bucket, queue and callback, and print the fixes.

For S3 as below; for Google Cloud Storage and Azure Blob Storage the same three checks of the
bucket (container), CORS and event delivery are in ``_doctor_clouds.py``.

System checks never do network I/O; this command does. It checks, with the app's settings:

1. the bucket exists and can be reached with the configured credentials;
2. its CORS rules let each ``--origin`` POST uploads (the browser sends the file to the bucket);
3. its event notification sends ``ObjectCreated`` events under the temporary prefix to the queue
   of ``ASYNC_IMAGE_UPLOAD_QUEUE_URL``, and the queue's policy lets S3 send them;
4. the callback URL answers a signed request (for an unknown upload, so nothing changes) with
   404: reachable, no redirect, and the secret is accepted;
5. whether Prometheus metrics are recorded (informational).

Each problem comes with the exact fix (the JSON and the ``aws`` command). Exit code 1 on problems.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from asyncimg.aws import bucket_cors, queue_notification, queue_policy
from asyncimg.conf import app_settings

OK, WARN, FAIL = "ok", "warn", "FAIL"
#: A browser upload is a POST: S3 announces it as s3:ObjectCreated:Post.
UPLOAD_EVENTS = frozenset({"s3:ObjectCreated:*", "s3:ObjectCreated:Post"})


@dataclass(frozen=True)
class Finding:
    level: str
    message: str
    fix: str = ""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def origin_allowed(origin: str, pattern: str) -> bool:
    """S3's rule: an AllowedOrigin matches exactly, or with its one ``*`` matching anything."""
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, origin) is not None


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


class Doctor:
    def __init__(self, *, origins: list[str], timeout: float) -> None:
        import boto3
        from botocore.config import Config

        self.origins = origins
        self.timeout = timeout
        self.bucket = app_settings.BUCKET or ""
        self.prefix = app_settings.TEMPORARY_IMAGE_PATH
        config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
        endpoint, region = app_settings.ENDPOINT_URL, app_settings.REGION
        self.s3: Any = boto3.client("s3", endpoint_url=endpoint, region_name=region, config=config)
        self.sqs: Any = boto3.client(
            "sqs", endpoint_url=endpoint, region_name=region, config=config
        )
        endpoint = app_settings.ENDPOINT_URL
        self.aws = f"aws --endpoint-url {endpoint} " if endpoint else "aws "

    # --- 1. bucket -------------------------------------------------------------------------------
    def check_bucket(self) -> Finding:
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            code = _error_code(exc)
            if code in {"404", "NoSuchBucket", "NotFound"}:
                return Finding(
                    FAIL,
                    f"Bucket {self.bucket!r} does not exist.",
                    f"{self.aws}s3api create-bucket --bucket {self.bucket}"
                    + (
                        ""
                        if app_settings.REGION == "us-east-1"
                        else f" --create-bucket-configuration "
                        f"LocationConstraint={app_settings.REGION}"
                    ),
                )
            if code in {"403", "AccessDenied", "Forbidden"}:
                return Finding(
                    FAIL,
                    f"Bucket {self.bucket!r} exists but these credentials may not use it.",
                    "Grant s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject, "
                    "s3:GetBucketCORS and s3:GetBucketNotification on it to this role.",
                )
            return Finding(
                FAIL,
                f"Cannot reach bucket {self.bucket!r}: {code}: {exc}",
                "Check ASYNC_IMAGE_UPLOAD_ENDPOINT_URL / ASYNC_IMAGE_UPLOAD_REGION and the AWS "
                "credentials of this process.",
            )
        return Finding(OK, f"Bucket {self.bucket!r} exists and is reachable.")

    # --- 2. CORS ---------------------------------------------------------------------------------
    def check_cors(self) -> list[Finding]:
        try:
            rules = self.s3.get_bucket_cors(Bucket=self.bucket).get("CORSRules", [])
        except Exception as exc:
            if _error_code(exc) != "NoSuchCORSConfiguration":
                return [Finding(FAIL, f"Cannot read the bucket's CORS rules: {exc}")]
            rules = []
        if not self.origins:
            return [
                Finding(
                    WARN,
                    f"CORS: {len(rules)} rule(s); no origin to check them against.",
                    "Pass --origin https://your.site (or set CSRF_TRUSTED_ORIGINS).",
                )
            ]
        missing = [
            origin
            for origin in self.origins
            if not any(
                "POST" in rule.get("AllowedMethods", [])
                and any(origin_allowed(origin, p) for p in rule.get("AllowedOrigins", []))
                for rule in rules
            )
        ]
        if not missing:
            return [Finding(OK, f"CORS allows POST from {', '.join(self.origins)}.")]
        configuration = {"CORSRules": [*rules, *bucket_cors(missing)["CORSRules"]]}
        kept = f" (keeps the {len(rules)} existing rule(s))" if rules else ""
        return [
            Finding(
                FAIL,
                f"CORS does not allow POST from {', '.join(missing)}: browsers cannot upload.",
                f"Save as cors.json{kept}:\n{_json(configuration)}\nthen run:\n"
                f"{self.aws}s3api put-bucket-cors --bucket {self.bucket} "
                "--cors-configuration file://cors.json",
            )
        ]

    # --- 3. notification and queue ---------------------------------------------------------------
    def _covers_prefix(self, configuration: dict[str, Any]) -> tuple[bool, str, str]:
        """(matches uploads, prefix filter, suffix filter) of one notification configuration."""
        rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
        values = {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in rules}
        prefix, suffix = values.get("prefix", ""), values.get("suffix", "")
        events = set(configuration.get("Events", []))
        return bool(events & UPLOAD_EVENTS) and self.prefix.startswith(prefix), prefix, suffix

    def check_notification(self) -> list[Finding]:
        try:
            notification = self.s3.get_bucket_notification_configuration(Bucket=self.bucket)
        except Exception as exc:
            return [Finding(FAIL, f"Cannot read the bucket's event notifications: {exc}")]
        notification = {k: v for k, v in notification.items() if k != "ResponseMetadata"}
        queue_url = app_settings.QUEUE_URL
        if not queue_url:
            return self._check_notification_without_queue(notification)
        try:
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn", "Policy"]
            )["Attributes"]
        except Exception as exc:
            name = queue_url.rstrip("/").rsplit("/", 1)[-1]
            return [
                Finding(
                    FAIL,
                    f"Queue {queue_url} cannot be read: {_error_code(exc)}.",
                    f"{self.aws}sqs create-queue --queue-name {name}   (or fix "
                    "ASYNC_IMAGE_UPLOAD_QUEUE_URL)",
                )
            ]
        arn = attributes["QueueArn"]
        findings = [self._queue_configuration(notification, arn)]
        findings.append(self._queue_policy(attributes.get("Policy"), arn, queue_url))
        return findings

    def _queue_configuration(self, notification: dict[str, Any], arn: str) -> Finding:
        ours = [c for c in notification.get("QueueConfigurations", []) if c.get("QueueArn") == arn]
        covering = [self._covers_prefix(c)[1:] for c in ours if self._covers_prefix(c)[0]]
        if covering:
            prefix, suffix = covering[0]
            if suffix:
                return Finding(
                    WARN,
                    f"Uploads reach the queue only when their key ends with {suffix!r}.",
                    "Remove the suffix filter: the processor checks the type itself.",
                )
            if not prefix:
                return Finding(
                    WARN,
                    "The notification has no prefix filter: processed images trigger events too "
                    "(the processor skips them, but each costs an invocation).",
                    f"Filter on the prefix {self.prefix!r}.",
                )
            return Finding(
                OK, f"ObjectCreated events under {self.prefix!r} go to the queue ({arn})."
            )
        fixed = dict(notification)
        fixed["QueueConfigurations"] = [
            *[c for c in notification.get("QueueConfigurations", []) if c.get("QueueArn") != arn],
            *queue_notification(arn, self.prefix)["QueueConfigurations"],
        ]
        why = (
            "its events or prefix filter miss browser uploads (s3:ObjectCreated:Post under "
            f"{self.prefix!r})"
            if ours
            else "no notification targets it"
        )
        others = sum(len(v) for k, v in fixed.items() if isinstance(v, list)) - 1
        kept = f"; its {others} other entries are kept here" if others else ""
        return Finding(
            FAIL,
            f"Uploads under {self.prefix!r} never reach the queue {arn}: {why}.",
            "Save as notification.json (it replaces the bucket's whole notification "
            f"configuration{kept}):\n{_json(fixed)}\nthen run:\n"
            f"{self.aws}s3api put-bucket-notification-configuration --bucket {self.bucket} "
            "--notification-configuration file://notification.json",
        )

    def _queue_policy(self, policy: str | None, arn: str, queue_url: str) -> Finding:
        statements = json.loads(policy).get("Statement", []) if policy else []
        if isinstance(statements, dict):
            statements = [statements]

        def allows_s3(statement: dict[str, Any]) -> bool:
            principal = statement.get("Principal", {})
            if principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*"):
                services = ["s3.amazonaws.com"]  # anyone, S3 included
            else:
                services = principal.get("Service", []) if isinstance(principal, dict) else []
                services = [services] if isinstance(services, str) else services
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            return (
                statement.get("Effect") == "Allow"
                and "s3.amazonaws.com" in services
                and any(a in {"sqs:SendMessage", "sqs:*", "*"} for a in actions)
            )

        if any(allows_s3(s) for s in statements):
            return Finding(OK, "The queue's policy lets S3 send messages.")
        attributes = {"Policy": json.dumps(queue_policy(arn, self.bucket))}
        return Finding(
            FAIL,
            "The queue's policy does not let S3 send messages: events are dropped.",
            f"Save as queue-attributes.json:\n{_json(attributes)}\nthen run:\n"
            f"{self.aws}sqs set-queue-attributes --queue-url {queue_url} "
            "--attributes file://queue-attributes.json",
        )

    def _check_notification_without_queue(self, notification: dict[str, Any]) -> list[Finding]:
        targets = [
            c.get(key, "")
            for group, key in (
                ("QueueConfigurations", "QueueArn"),
                ("TopicConfigurations", "TopicArn"),
                ("LambdaFunctionConfigurations", "LambdaFunctionArn"),
            )
            for c in notification.get(group, [])
            if self._covers_prefix(c)[0]
        ]
        if "EventBridgeConfiguration" in notification:
            targets.append("EventBridge")
        if targets:
            return [
                Finding(
                    WARN,
                    f"ObjectCreated events under {self.prefix!r} go to {', '.join(targets)}; "
                    "ASYNC_IMAGE_UPLOAD_QUEUE_URL is not set, so the queue was not checked.",
                    "Set ASYNC_IMAGE_UPLOAD_QUEUE_URL to the queue the processor reads.",
                )
            ]
        return [
            Finding(
                FAIL,
                f"No event notification covers uploads under {self.prefix!r}: nothing will be "
                "processed.",
                "Set ASYNC_IMAGE_UPLOAD_QUEUE_URL and run this command again for the exact "
                "configuration, or deploy lambda/template.yaml, which configures it.",
            )
        ]

    # --- 4. callback -----------------------------------------------------------------------------
    def check_callback(self) -> Finding:
        from asyncimg.services.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

        url = app_settings.CALLBACK_URL
        secrets = app_settings.CALLBACK_SECRETS
        if not url or not secrets:
            return Finding(
                FAIL,
                "ASYNC_IMAGE_UPLOAD_CALLBACK_URL and ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS must "
                "both be set.",
                "Set the absolute URL of /async_image/callback/ and a long random secret.",
            )
        if not url.startswith(("http://", "https://")):
            return Finding(FAIL, f"The callback URL {url!r} is not http(s).")
        # An unknown upload: the view checks the signature, then answers 404, changing nothing.
        body = json.dumps(
            {
                "uploadId": str(uuid.uuid4()),
                "event": "processing",
                "eventId": f"asyncimg-doctor-{uuid.uuid4().hex}",
            }
        ).encode()
        timestamp = int(time.time())
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "asyncimg-doctor/1",
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign(secrets[0], timestamp, body),
            },
        )
        try:
            with urllib.request.build_opener(_NoRedirect).open(request, timeout=self.timeout):
                status, text = 200, ""
        except urllib.error.HTTPError as exc:
            status, text = exc.code, exc.read(500).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Finding(
                FAIL,
                f"The callback URL {url} is unreachable from here: {reason}.",
                "Check ASYNC_IMAGE_UPLOAD_CALLBACK_URL; the processor (Lambda or worker) must "
                "reach it too.",
            )
        if status == 404 and "NOT_FOUND" in text:
            note = "" if url.startswith("https://") or _is_local(url) else " (use https)"
            return Finding(
                WARN if note else OK,
                f"The callback URL {url} is reachable and accepts the signature{note}.",
            )
        if 300 <= status < 400:
            return Finding(
                FAIL,
                f"The callback URL {url} redirects (HTTP {status}): the processor does not "
                "follow redirects, a POST would lose its body.",
                "Use the final URL, with its trailing slash and scheme.",
            )
        if status == 401:
            return Finding(
                FAIL,
                f"The callback at {url} refuses the signature: {text[:200]}",
                "The server at that URL has other ASYNC_IMAGE_UPLOAD_CALLBACK_SECRETS (or a "
                "clock off by minutes): use the same secret on both sides.",
            )
        return Finding(
            FAIL,
            f"The callback URL {url} answered HTTP {status}: {text[:200]}",
            "It must be the app's /async_image/callback/ view.",
        )


def _is_local(url: str) -> bool:
    host = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    return host in {"localhost", "127.0.0.1", "[::1]"}


def metrics_finding() -> Finding:
    """Whether Prometheus metrics are recorded, and how they are read (informational)."""
    import os

    from asyncimg import metrics

    if not metrics.installed():
        return Finding(
            OK,
            "Metrics: off (prometheus-client is not installed).",
            "pip install 'django-async-image-upload[metrics]' and set "
            "ASYNC_IMAGE_UPLOAD_METRICS = True to record them.",
        )
    if not metrics.enabled():
        return Finding(OK, "Metrics: off (ASYNC_IMAGE_UPLOAD_METRICS is not set).")
    readers = "a bearer token or staff users" if app_settings.METRICS_TOKEN else "staff users only"
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    mode = f"multi-process, in {directory}" if directory else "this process only"
    return Finding(OK, f"Metrics: on ({mode}), readable by {readers}.")


class Command(BaseCommand):
    help = (
        "Check the configured bucket (exists, CORS for --origin, ObjectCreated notification to "
        "the queue) and the callback URL; print the exact fix of each problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            help="Origin of a page that uploads, e.g. https://www.example.com (repeatable; "
            "default: CSRF_TRUSTED_ORIGINS).",
        )
        parser.add_argument("--timeout", type=float, default=5.0, help="Seconds per request.")
        parser.add_argument(
            "--skip-callback", action="store_true", help="Do not call the callback URL."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not app_settings.BUCKET:
            raise CommandError("ASYNC_IMAGE_UPLOAD_BUCKET is not set: there is nothing to check.")
        origins = [o.rstrip("/") for o in options["origin"]] or [
            o.rstrip("/") for o in getattr(settings, "CSRF_TRUSTED_ORIGINS", [])
        ]
        from asyncimg.management.commands._doctor_clouds import cloud_doctor
        from asyncimg.storage import get_backend

        doctor = Doctor(origins=origins, timeout=options["timeout"])
        cloud = cloud_doctor(get_backend(), origins=origins, timeout=options["timeout"]) or doctor
        findings = [cloud.check_bucket()]
        if findings[0].level == OK:
            findings += cloud.check_cors()
            findings += cloud.check_notification()
        if not options["skip_callback"]:
            findings.append(doctor.check_callback())
        findings.append(metrics_finding())

        styles = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}
        for finding in findings:
            label = styles[finding.level](f"[{finding.level}]".ljust(6))
            self.stdout.write(f"{label} {finding.message}")
            if finding.fix:
                self.stdout.write("       fix: " + finding.fix.replace("\n", "\n       "))
        problems = sum(1 for f in findings if f.level == FAIL)
        if problems:
            raise CommandError(f"{problems} problem(s) found.")
        self.stdout.write(self.style.SUCCESS("No problems found."))

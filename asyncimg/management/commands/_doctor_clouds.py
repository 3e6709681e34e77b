"""``asyncimg_doctor``'s checks of Google Cloud Storage and Azure Blob Storage: the bucket (or
container), its CORS rules for the upload origins, and what carries upload events to the
processor. They use the configured backend's own client (and so its credentials and endpoint).
"""

from __future__ import annotations

import json
from typing import Any

from asyncimg.conf import app_settings
from asyncimg.management.commands.asyncimg_doctor import FAIL, OK, WARN, Finding

#: the methods a browser needs per cloud: POST a form (GCS), PUT the bytes (Azure SAS)
GCS_UPLOAD_METHOD, AZURE_UPLOAD_METHOD = "POST", "PUT"
#: what Azure's preflight must allow beyond the method: the headers the PUT carries
AZURE_UPLOAD_HEADERS = ("x-ms-blob-type", "content-type")


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


def _missing_origins(origins: list[str], rules: list[tuple[list[str], list[str]]]) -> list[str]:
    """The origins no ``(allowed origins, allowed methods)`` rule lets upload."""
    return [
        origin
        for origin in origins
        if not any(origin in allowed or "*" in allowed for allowed, _methods in rules)
    ]


# --- Google Cloud Storage ------------------------------------------------------------------------


def gcs_notification_findings(
    notifications: list[dict[str, Any]], prefix: str, bucket: str, topic: str | None
) -> list[Finding]:
    """Findings about a bucket's Pub/Sub notifications (``topic``, ``event_types``,
    ``blob_name_prefix``, ``payload_format`` as the JSON API names them): one must announce
    OBJECT_FINALIZE under ``prefix`` to ``topic`` (the topic of the worker's subscription, when
    known) with the JSON payload the worker reads."""

    def covers(n: dict[str, Any]) -> bool:
        events = n.get("event_types") or ["OBJECT_FINALIZE"]
        return "OBJECT_FINALIZE" in events and prefix.startswith(n.get("blob_name_prefix") or "")

    covering = [n for n in notifications if covers(n)]
    if topic is not None:
        covering = [n for n in covering if str(n.get("topic", "")).endswith(topic.split("/")[-1])]
    fix_topic = (
        topic.split("/")[-1] if topic else "<topic of ASYNC_IMAGE_UPLOAD_PUBSUB_SUBSCRIPTION>"
    )
    fix = (
        f"gcloud storage buckets notifications create gs://{bucket} --topic={fix_topic} "
        f"--event-types=OBJECT_FINALIZE --object-prefix={prefix} --payload-format=json"
    )
    if not covering:
        where = f" to {topic}" if topic else ""
        return [
            Finding(
                FAIL,
                f"No notification announces uploads under {prefix!r}{where}: nothing will be "
                "processed by the worker (a Cloud Run function with an Eventarc trigger does not "
                "need one).",
                fix,
            )
        ]
    found = covering[0]
    if found.get("payload_format") not in (None, "JSON_API_V1"):
        return [
            Finding(
                FAIL,
                f"The notification to {found.get('topic')} sends no payload: the worker reads "
                "the object from the JSON payload.",
                "Delete it and create it again with --payload-format=json:\n" + fix,
            )
        ]
    if not found.get("blob_name_prefix"):
        return [
            Finding(
                WARN,
                "The notification has no object prefix: processed images are announced too (the "
                "processor skips them, but each costs a message).",
                fix,
            )
        ]
    return [Finding(OK, f"OBJECT_FINALIZE under {prefix!r} goes to {found.get('topic')}.")]


class GCSDoctor:
    def __init__(self, backend: Any, *, origins: list[str], timeout: float) -> None:
        self.backend, self.origins, self.timeout = backend, origins, timeout
        self.bucket = backend.bucket
        self.prefix = app_settings.TEMPORARY_IMAGE_PATH

    def check_bucket(self) -> Finding:
        from google.api_core.exceptions import Forbidden, NotFound

        name = self.bucket.name
        try:
            self.bucket.reload(timeout=self.timeout)
        except NotFound:
            return Finding(
                FAIL,
                f"Bucket {name!r} does not exist.",
                f"gcloud storage buckets create gs://{name} --uniform-bucket-level-access",
            )
        except Forbidden:
            return Finding(
                FAIL,
                f"Bucket {name!r} exists but these credentials may not use it.",
                "Grant roles/storage.objectAdmin and storage.buckets.get on it (docs/storage.md).",
            )
        except Exception as exc:
            return Finding(FAIL, f"Cannot reach bucket {name!r}: {exc}")
        return Finding(OK, f"Bucket {name!r} exists and is reachable.")

    def check_cors(self) -> list[Finding]:
        rules = list(self.bucket.cors or [])
        if not self.origins:
            return [Finding(WARN, f"CORS: {len(rules)} rule(s); no origin to check them against.")]
        usable = [
            (list(r.get("origin", [])), list(r.get("method", [])))
            for r in rules
            if GCS_UPLOAD_METHOD in r.get("method", [])
        ]
        missing = _missing_origins(self.origins, usable)
        if not missing:
            return [Finding(OK, f"CORS allows POST from {', '.join(self.origins)}.")]
        configuration = [
            *rules,
            {
                "origin": missing,
                "method": ["POST", "GET", "HEAD"],
                "responseHeader": ["Content-Type", "ETag"],
                "maxAgeSeconds": 3600,
            },
        ]
        return [
            Finding(
                FAIL,
                f"CORS does not allow POST from {', '.join(missing)}: browsers cannot upload.",
                f"Save as cors.json:\n{_json(configuration)}\nthen run:\n"
                f"gcloud storage buckets update gs://{self.bucket.name} --cors-file=cors.json",
            )
        ]

    def _subscription_topic(self) -> tuple[str | None, Finding | None]:
        subscription = app_settings.PUBSUB_SUBSCRIPTION
        if not subscription:
            return None, None
        try:
            from google.cloud import pubsub_v1

            found = pubsub_v1.SubscriberClient().get_subscription(
                subscription=subscription, timeout=self.timeout
            )
        except Exception as exc:
            return None, Finding(
                FAIL,
                f"The Pub/Sub subscription {subscription} cannot be read: {exc}",
                f"gcloud pubsub subscriptions create {subscription.split('/')[-1]} "
                "--topic=<the bucket's notification topic>",
            )
        return str(found.topic), None

    def check_notification(self) -> list[Finding]:
        topic, problem = self._subscription_topic()
        findings = [problem] if problem else []
        try:
            notifications = [
                {
                    "topic": f"projects/{n.topic_project}/topics/{n.topic_name}",
                    "event_types": n.event_types,
                    "blob_name_prefix": n.blob_name_prefix,
                    "payload_format": n.payload_format,
                }
                for n in self.bucket.list_notifications(timeout=self.timeout)
            ]
        except Exception as exc:
            return [*findings, Finding(FAIL, f"Cannot read the bucket's notifications: {exc}")]
        return findings + gcs_notification_findings(
            notifications, self.prefix, self.bucket.name, topic
        )


# --- Azure Blob Storage --------------------------------------------------------------------------


class AzureDoctor:
    def __init__(self, backend: Any, *, origins: list[str], timeout: float) -> None:
        self.backend, self.origins, self.timeout = backend, origins, timeout
        self.account = backend.account_name
        self.container = backend.container
        #: Azure's server-side timeout, in whole seconds
        self.server_timeout = max(1, int(timeout))

    def check_bucket(self) -> Finding:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            self.backend.client.get_container_properties(timeout=self.server_timeout)
        except ResourceNotFoundError:
            return Finding(
                FAIL,
                f"Container {self.container!r} does not exist in account {self.account!r}.",
                f"az storage container create --account-name {self.account} "
                f"--name {self.container} --auth-mode login",
            )
        except HttpResponseError as exc:
            if exc.status_code == 403:
                return Finding(
                    FAIL,
                    f"Container {self.container!r} exists but these credentials may not use it.",
                    "Assign Storage Blob Data Contributor on it (docs/storage.md).",
                )
            return Finding(FAIL, f"Cannot reach container {self.container!r}: {exc.message}")
        except Exception as exc:
            return Finding(FAIL, f"Cannot reach container {self.container!r}: {exc}")
        return Finding(OK, f"Container {self.container!r} exists and is reachable.")

    def check_cors(self) -> list[Finding]:
        try:
            rules = self.backend.service.get_service_properties(timeout=self.server_timeout)["cors"]
        except Exception as exc:
            return [Finding(FAIL, f"Cannot read the blob service's CORS rules: {exc}")]
        if not self.origins:
            return [Finding(WARN, f"CORS: {len(rules)} rule(s); no origin to check them against.")]

        def lets_put(rule: Any) -> bool:
            methods = _split(rule.allowed_methods)
            headers = [h.lower() for h in _split(rule.allowed_headers)]

            def allowed(header: str) -> bool:
                return any(
                    h == "*" or h == header or (h.endswith("*") and header.startswith(h[:-1]))
                    for h in headers
                )

            return AZURE_UPLOAD_METHOD in methods and all(allowed(h) for h in AZURE_UPLOAD_HEADERS)

        usable = [
            (_split(r.allowed_origins), _split(r.allowed_methods)) for r in rules if lets_put(r)
        ]
        missing = _missing_origins(self.origins, usable)
        if not missing:
            return [Finding(OK, f"CORS allows PUT from {', '.join(self.origins)}.")]
        return [
            Finding(
                FAIL,
                f"CORS does not allow PUT (with x-ms-blob-type and Content-Type) from "
                f"{', '.join(missing)}: browsers cannot upload.",
                f"az storage cors add --account-name {self.account} --services b "
                f"--methods PUT GET HEAD --origins {' '.join(missing)} "
                "--allowed-headers x-ms-blob-type content-type --exposed-headers ETag "
                "--max-age 3600",
            )
        ]

    def check_notification(self) -> list[Finding]:
        findings = [
            Finding(
                WARN,
                "The Event Grid subscription for BlobCreated is not visible to storage "
                "credentials: not checked.",
                "az eventgrid system-topic event-subscription list --resource-group <group> "
                "--system-topic-name <the storage account's system topic>",
            )
        ]
        queue_url = app_settings.AZURE_QUEUE_URL
        if not queue_url:
            return findings
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.queue import QueueClient

        credential: Any = self.backend.account_key and {
            "account_name": self.account,
            "account_key": self.backend.account_key,
        }
        if not credential:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        name = queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:
            QueueClient.from_queue_url(queue_url, credential=credential).get_queue_properties(
                timeout=self.server_timeout
            )
        except ResourceNotFoundError:
            findings.append(
                Finding(
                    FAIL,
                    f"The queue {queue_url} does not exist: Event Grid has nowhere to deliver "
                    "upload events for the worker.",
                    f"az storage queue create --account-name {self.account} --name {name} "
                    "--auth-mode login",
                )
            )
        except Exception as exc:
            findings.append(Finding(FAIL, f"The queue {queue_url} cannot be read: {exc}"))
        else:
            findings.append(Finding(OK, f"The queue {queue_url} exists."))
        return findings


def _split(value: Any) -> list[str]:
    """CORS lists as azure-storage-blob returns them: a list, or one comma-separated string."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return [item.strip() for item in items if item.strip()]


def cloud_doctor(backend: Any, *, origins: list[str], timeout: float) -> Any:
    """The GCS or Azure checks for ``backend``, or None for S3 (``asyncimg_doctor.Doctor``)."""
    module = type(backend).__module__
    if module == "asyncimg.storage.gcs":
        return GCSDoctor(backend, origins=origins, timeout=timeout)
    if module == "asyncimg.storage.azure":
        return AzureDoctor(backend, origins=origins, timeout=timeout)
    return None

"""Google Cloud entry point: a Cloud Run function (Cloud Functions 2nd gen) triggered by
Eventarc with ``google.cloud.storage.object.v1.finalized``.

``on_object_finalized(cloud_event)`` has functions-framework's CloudEvent signature but needs
neither functions-framework nor cloudevents to import: it takes the ``CloudEvent`` those
libraries build, or a plain mapping of the structured JSON format. The deployed ``main.py``
(``gcp/main.py``, package data) registers it with ``@functions_framework.cloud_event``.

Configuration comes from the ``ASYNCIMG_*`` variables (docs/processor.md); the callback secret
is Secret Manager's, mounted as ``ASYNCIMG_CALLBACK_SECRET`` by the deployment. Storage is
reached with google-cloud-storage and the function's service account (Application Default
Credentials; ``STORAGE_EMULATOR_HOST`` for an emulator). A failed object raises, so the
function fails and Eventarc redelivers the event when the function was deployed with retries;
every step is idempotent, as for SQS.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from asyncimg_processor.envelopes import parse_cloud_event
from asyncimg_processor.handler import _cached_config, handle_parsed
from asyncimg_processor.stores import GCSStore

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_store: GCSStore | None = None


def _gcs_store() -> GCSStore:
    """One client per instance: it holds the HTTP session and its connection pool."""
    global _store
    with _lock:
        if _store is None:
            from google.cloud import storage

            _store = GCSStore(storage.Client())
        return _store


def cloud_event_parts(cloud_event: Any) -> tuple[dict[str, Any], Any]:
    """A CloudEvent's context attributes and data, from a ``cloudevents`` event or a mapping."""
    if isinstance(cloud_event, Mapping):
        attributes = {k: v for k, v in cloud_event.items() if k not in ("data", "data_base64")}
        return attributes, cloud_event.get("data")
    return dict(cloud_event.get_attributes()), cloud_event.get_data()


def on_object_finalized(cloud_event: Any) -> dict[str, Any]:
    """Process the object a ``google.cloud.storage.object.v1.finalized`` event announces.

    Other event types are ignored. Returns the handler's outcomes; raises when an object failed
    for a reason a retry may cure (storage or callback endpoint unavailable, wrong secret).
    """
    attributes, data = cloud_event_parts(cloud_event)
    config, callback = _cached_config()
    result = handle_parsed(parse_cloud_event(attributes, data), config, _gcs_store(), callback)
    errors = [o for o in result["outcomes"] if o["status"] == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} object(s) failed: {errors}")
    return {"outcomes": result["outcomes"]}

"""Azure entry point: an Azure Function with an Event Grid trigger for
``Microsoft.Storage.BlobCreated``.

``blob_created(event)`` takes the ``azure.functions.EventGridEvent`` the Functions host passes
(or a mapping of the Event Grid schema) and needs no azure-functions to import. The deployed
``function_app.py`` (``azure/function_app.py``, package data) registers it with
``@app.event_grid_trigger`` (Python v2 programming model).

Configuration comes from the ``ASYNCIMG_*`` app settings (docs/processor.md); the callback
secret is a Key Vault reference resolved by the platform into ``ASYNCIMG_CALLBACK_SECRET``.
Storage is reached with azure-storage-blob: ``ASYNCIMG_AZURE_ACCOUNT_URL`` with the app's managed
identity (azure-identity's ``DefaultAzureCredential``), or ``ASYNCIMG_AZURE_CONNECTION_STRING``
(Azurite, local runs). A failed blob raises, so the invocation fails and Event Grid retries it
with backoff, then dead-letters it; every step is idempotent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

from asyncimg_processor.envelopes import parse_event_grid
from asyncimg_processor.handler import ConfigurationError, _cached_config, handle_parsed
from asyncimg_processor.stores import AzureBlobStore

_lock = threading.Lock()
_store: AzureBlobStore | None = None


def azure_store(environ: Mapping[str, str] | None = None) -> AzureBlobStore:
    """An :class:`AzureBlobStore` from ``ASYNCIMG_AZURE_CONNECTION_STRING`` or
    ``ASYNCIMG_AZURE_ACCOUNT_URL`` (managed identity)."""
    from azure.storage.blob import BlobServiceClient

    env = os.environ if environ is None else environ
    if connection_string := env.get("ASYNCIMG_AZURE_CONNECTION_STRING"):
        return AzureBlobStore(BlobServiceClient.from_connection_string(connection_string))
    if account_url := env.get("ASYNCIMG_AZURE_ACCOUNT_URL"):
        from azure.identity import DefaultAzureCredential

        return AzureBlobStore(BlobServiceClient(account_url, credential=DefaultAzureCredential()))
    raise ConfigurationError(
        "set ASYNCIMG_AZURE_ACCOUNT_URL (managed identity) or ASYNCIMG_AZURE_CONNECTION_STRING"
    )


def _azure_store() -> AzureBlobStore:
    """One client per instance: it holds the HTTP pipeline and its connection pool."""
    global _store
    with _lock:
        if _store is None:
            _store = azure_store()
        return _store


def event_grid_dict(event: Any) -> Mapping[str, Any]:
    """The Event Grid schema of an ``azure.functions.EventGridEvent`` (or a mapping as is)."""
    if isinstance(event, Mapping):
        return event
    return {
        "id": event.id,
        "eventType": event.event_type,
        "subject": event.subject,
        "topic": event.topic,
        "eventTime": str(event.event_time or ""),
        "dataVersion": event.data_version,
        "data": event.get_json(),
    }


def blob_created(event: Any) -> dict[str, Any]:
    """Process the blob a ``Microsoft.Storage.BlobCreated`` event announces; other event types
    are ignored. Raises when a blob failed for a reason a retry may cure."""
    config, callback = _cached_config()
    parsed = parse_event_grid([event_grid_dict(event)])
    result = handle_parsed(parsed, config, _azure_store(), callback)
    errors = [o for o in result["outcomes"] if o["status"] == "error"]
    if errors:
        raise RuntimeError(f"{len(errors)} blob(s) failed: {errors}")
    return {"outcomes": result["outcomes"]}

"""The Cloud Run function's source entry point (``gcloud functions deploy --entry-point
on_object_finalized``): staged by ``manage.py asyncimg_deploy --cloud gcp`` beside a copy of
``asyncimg_processor``."""

from __future__ import annotations

from typing import Any

import functions_framework

from asyncimg_processor.cloud_function import on_object_finalized as handle


@functions_framework.cloud_event
def on_object_finalized(cloud_event: Any) -> None:
    handle(cloud_event)

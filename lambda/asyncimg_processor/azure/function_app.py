"""The Function App's entry point (Python v2 programming model): staged by ``manage.py
asyncimg_deploy --cloud azure`` beside a copy of ``asyncimg_processor``."""

from __future__ import annotations

import azure.functions as func

from asyncimg_processor.azure_function import blob_created

app = func.FunctionApp()


@app.event_grid_trigger(arg_name="event")
def asyncimg_blob_created(event: func.EventGridEvent) -> None:
    blob_created(event)

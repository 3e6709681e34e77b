"""One upload through a signed ``succeeded`` callback with the swapped model, then what the database
holds, printed as JSON. Run by ``tests/test_swappable.py`` as
``python -m tests.swapped_images.callback_flow`` with ``tests.settings_swapped`` on a migrated
database: the swap must be in place before the app registry loads.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

import django


def main() -> dict[str, Any]:
    # Image URLs are presigned (offline) in the callback's answer: any credentials will do.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from asyncimg.models import Upload
    from tests.callbacks import callback_body, signed_headers
    from tests.swapped_images.models import SwappedImage

    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        relations = connection.introspection.get_relations(cursor, Upload._meta.db_table)

    owner = get_user_model().objects.create_user(username="alice", password="pw")
    upload = Upload(
        owner=owner,
        filename="cat.jpg",
        content_type="image/jpeg",
        size=1000,
        expires_at=timezone.now() + timedelta(minutes=10),
    )
    upload.key = f"temp/{upload.pk}/cat.jpg"
    upload.save()

    body = callback_body(str(upload.pk), "succeeded")
    headers = signed_headers(body)
    del headers["Content-Type"]
    response = Client().post(
        "/async_image/callback/", data=body, content_type="application/json", headers=headers
    )
    upload.refresh_from_db()
    return {
        "tables": tables,
        # (column, table); Django 6.1 appends the database-level on_delete to each relation.
        "image_fk": list(relations.get("image_id", ())[:2]),
        "response": [response.status_code, response.json()],
        "upload": {"status": upload.status, "image_id": str(upload.image_id)},
        "images": [
            {"id": str(image.pk), "key": image.key, "alt_text": image.alt_text}
            for image in SwappedImage.objects.all()
        ],
    }


if __name__ == "__main__":
    print(json.dumps(main()))

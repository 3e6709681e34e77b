from __future__ import annotations

from django.db import models
from s3_file_field import S3FileField


class Photo(models.Model):
    """The model field django-s3-file-field's endpoints serve (field id ``peers.Photo.file``);
    the table itself is never used."""

    file = S3FileField()

    class Meta:
        app_label = "peers"

    def __str__(self) -> str:
        return str(self.file)

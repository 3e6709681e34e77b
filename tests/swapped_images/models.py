from __future__ import annotations

from django.db import models

from asyncimg.models import AbstractProcessedImage


class SwappedImage(AbstractProcessedImage):
    """A project's own processed-image model: the abstract fields plus one of its own."""

    alt_text = models.CharField(max_length=200, blank=True, default="")

from __future__ import annotations

from django.apps import AppConfig


class AsyncImgConfig(AppConfig):
    name = "asyncimg"
    verbose_name = "Async image upload"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from asyncimg import checks  # noqa: F401  (registers the system checks)

from __future__ import annotations

from django.apps import AppConfig


class AsyncImgConfig(AppConfig):
    name = "asyncimg"
    verbose_name = "Async image upload"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        import logging

        from asyncimg import checks  # noqa: F401  (registers the system checks)
        from asyncimg.graphql.errors import ClientErrorLogFilter

        strawberry_log = logging.getLogger("strawberry.execution")
        if not any(isinstance(f, ClientErrorLogFilter) for f in strawberry_log.filters):
            strawberry_log.addFilter(ClientErrorLogFilter())

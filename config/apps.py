from __future__ import annotations

from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The bundled project: demo page and templates."""

    name = "config"
    label = "asyncimg_project"

from __future__ import annotations

from django.urls import path

from asyncimg import views

app_name = "asyncimg"

urlpatterns = [
    path("callback/", views.callback, name="callback"),
    path("metrics/", views.metrics, name="metrics"),
]

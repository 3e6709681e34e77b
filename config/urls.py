from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from graphql_schema.views import graphql_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql/", graphql_view, name="graphql"),
    path("async_image/", include("asyncimg.urls")),
    path("", include("config.views")),
]

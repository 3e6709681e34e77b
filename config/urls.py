from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from asyncimg.graphql.views import GraphQLView
from graphql_schema.schema import schema

urlpatterns = [
    path("admin/", admin.site.urls),
    path("graphql/", GraphQLView.as_view(schema=schema), name="graphql"),
    path("async_image/", include("asyncimg.urls")),
    path("", include("config.views")),
]

"""GraphiQL is served with its scripts from our static files, not from a CDN."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from django.contrib.staticfiles import finders
from django.test import Client


def test_graphiql_loads_nothing_from_a_cdn(client: Client) -> None:
    page = client.get("/graphql/", HTTP_ACCEPT="text/html").content.decode()
    assert "unpkg.com" not in page
    assets = re.findall(r'(?:src|href)="/static/(asyncimg/graphiql/[^"]+)"', page)
    assert len(assets) == 7
    for asset in assets:
        assert finders.find(unquote(asset)), asset


def test_every_type_and_field_of_the_contract_is_described() -> None:
    """GraphiQL's documentation explorer is where the README sends people for the full schema."""
    from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType

    from graphql_schema.schema import schema

    missing = []
    for name, gql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"PageInfo", "Query", "Mutation", "Subscription"}:
            continue
        if isinstance(gql_type, GraphQLObjectType | GraphQLInputObjectType):
            if not gql_type.description:
                missing.append(name)
            missing += [
                f"{name}.{field}"
                for field, definition in gql_type.fields.items()
                if not definition.description
                and not (field == "node" and name == "UploadEdge")
                and field != "pageInfo"
            ]
        elif isinstance(gql_type, GraphQLEnumType):
            missing += [f"{name}.{v}" for v, d in gql_type.values.items() if not d.description]
    for root in ("Query", "Mutation", "Subscription"):
        root_type = schema._schema.get_type(root)
        assert isinstance(root_type, GraphQLObjectType)
        missing += [f"{root}.{f}" for f, d in root_type.fields.items() if not d.description]
    assert missing == []


def test_docs_schema_graphql_is_current() -> None:
    """docs/schema.graphql is the schema people read on GitHub: regenerate it when types change
    (``python -m graphql_schema > docs/schema.graphql``)."""
    from graphql_schema.__main__ import sdl

    assert (Path(__file__).parent.parent / "docs" / "schema.graphql").read_text() == sdl()

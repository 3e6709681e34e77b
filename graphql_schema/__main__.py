"""``python -m graphql_schema``: print the schema's SDL, as kept in ``docs/schema.graphql``."""

from __future__ import annotations

import os

HEADER = (
    "# The GraphQL schema served at /graphql/, printed by strawberry (tests/test_graphiql.py\n"
    "# checks that it is current). Regenerate: python -m graphql_schema > docs/schema.graphql\n\n"
)


def sdl() -> str:
    """The SDL of :data:`graphql_schema.schema.schema` with the header of docs/schema.graphql."""
    from graphql_schema.schema import schema

    return f"{HEADER}{schema.as_str()}\n"


if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    print(sdl(), end="")

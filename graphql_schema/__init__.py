"""The GraphQL API: ``from graphql_schema.schema import schema``."""

"""The ASGI application: HTTP through Django, GraphQL subscriptions through Channels."""

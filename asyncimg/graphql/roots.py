"""The root value of an operation: an instance of the schema's root type.

Strawberry's Django view and Channels consumer execute with ``root_value=None``, and a field
without a resolver is read from the root value, so a project's plain field with a default beside
ours (``hello: str = "world"`` in its ``Query``) failed with "'NoneType' object has no attribute
'hello'". Given as one schema extension, the same root reaches HTTP, the websocket and
``schema.execute`` alike; a root value the project's own view gives is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType


class RootValue(SchemaExtension):
    """Executes each operation on a fresh instance of its root type (``Query``, ``Mutation`` or
    ``Subscription``) when the integration passes none. A root type whose plain fields have no
    defaults cannot be built without arguments: its operations keep ``None``, as before."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.root_value is None:
            schema = context.schema
            root_type = {
                OperationType.QUERY: schema.query,
                OperationType.MUTATION: schema.mutation,
                OperationType.SUBSCRIPTION: schema.subscription,
            }.get(context.operation_type)
            if root_type is not None:
                with suppress(TypeError):
                    context.root_value = root_type()
        yield

"""Business rules of the upload lifecycle, shared by GraphQL, the callback view, admin and commands."""

"""Business rules of the upload lifecycle, shared by GraphQL, callback view, admin, commands."""

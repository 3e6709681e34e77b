"""django-async-image-upload: direct-to-storage image uploads with results pushed over GraphQL."""

__version__ = "0.1.0"

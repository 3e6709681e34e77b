"""Django's PostgreSQL backend, with a pool that recovers at once when its connections died.

A subclass as Django documents them ("Subclassing the built-in database backends"); the bundled
project's settings select it as ``ENGINE = "config.postgresql"``.
"""

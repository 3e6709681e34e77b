"""A project app that swaps ``PROCESSED_IMAGE_MODEL`` for a model of its own.

Installed only by ``tests.settings_swapped``, which ``tests/test_swappable.py`` runs in
subprocesses; the main test settings never see it.
"""

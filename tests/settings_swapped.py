"""The test settings with ``PROCESSED_IMAGE_MODEL`` swapped for ``swapped_images.SwappedImage``.

Used only in subprocesses (``tests/test_swappable.py``): a swap must be in place before the app
registry loads, like ``AUTH_USER_MODEL``, so it cannot be an ``override_settings``.
"""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapped_images"]  # noqa: F405
PROCESSED_IMAGE_MODEL = "swapped_images.SwappedImage"

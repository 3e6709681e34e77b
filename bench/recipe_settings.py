"""Settings of the recipe server of ``bench/push_latency.py``: the bundled project's settings
(same database, sessions, middleware, secret key) with the recipe's URLs and the channel layer
the Channels docs configure, ``channels_redis.core.RedisChannelLayer``."""

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.recipe_app"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
    }
}

"""Settings of the recipe server of ``bench/push_latency.py``: the bundled project's settings
(same database, sessions, middleware, secret key) with the recipe's URLs and the channel layer
the Channels docs configure, ``channels_redis.core.RedisChannelLayer``."""

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.recipe_app"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py 8 reads with a 5 s socket timeout by default, which tears down every idle
        # consumer's blocking BZPOPMIN (django/channels_redis#422); the workaround from that
        # issue: no socket timeout. redis-py 8 also caps a pool at 100 connections and raises
        # MaxConnectionsError (it does not wait) when more commands are in flight: 500 consumers
        # per server joining their groups at once exceed it, so 1,000 subscribers fail at the
        # default. A team would raise the cap, and so does the benchmark (docs/benchmarks.md).
        "CONFIG": {
            "hosts": [
                {
                    "address": os.environ["REDIS_URL"],
                    "socket_timeout": None,
                    "max_connections": 2048,
                }
            ]
        },
    }
}

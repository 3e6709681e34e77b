"""Fault and fuzz tests on real processes: uvicorn servers of the bundled project, worker
processes, a moto server, a private Redis, the suite's database (see ``harness.py``).

Sized for the suite's time budget on a 2-core machine; the environment sets the full sizes:

``ASYNCIMG_RELIABILITY_UPLOADS``
    uploads of the end-to-end burst (default 300; the issue's figure is 1000)
``ASYNCIMG_RELIABILITY_CONCURRENCY``
    uploads in flight at once in that burst (default 24)
``ASYNCIMG_RELIABILITY_FAULT_UPLOADS``
    uploads of each burst with a fault (server killed, Redis restarted, PostgreSQL connections
    terminated; default 120)
``ASYNCIMG_RELIABILITY_GRAPHQL_EXAMPLES``
    schemathesis examples per GraphQL operation and mode (default 25; four times as many for
    the inputs that get past the schema)
``ASYNCIMG_RELIABILITY_CALLBACK_EXAMPLES``
    Hypothesis examples per callback test (default 150)
``ASYNCIMG_RELIABILITY_LIVENESS``
    seconds an upload may take before it counts as stuck (default 90)

On SQLite the end-to-end burst skips (one file, one writer at a time: the PostgreSQL and MariaDB
cells run it); the smaller fault bursts run on every database, the PostgreSQL one on PostgreSQL.
"""

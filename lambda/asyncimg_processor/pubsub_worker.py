"""A Pub/Sub pull consumer of Cloud Storage notifications: GCS → Pub/Sub → this worker.

For teams that process images on their own servers instead of a Cloud Run function, and for
``manage.py asyncimg_worker --source pubsub``. Synchronous pull (``google-cloud-pubsub``'s
``SubscriberClient.pull``), so a stop takes effect between pulls and the worker holds only the
messages it is handling. A message is acknowledged once the handler did not report it failed; a
failed one is left unacknowledged and Pub/Sub redelivers it after the subscription's ack
deadline (then, after its ``maxDeliveryAttempts``, the dead-letter topic takes it). A pull
may answer at once with nothing (the emulator always does), so an empty pull is followed by a
wait that doubles up to ``wait_time`` seconds and resets when a message arrives. The client
honours ``PUBSUB_EMULATOR_HOST``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from asyncimg_processor.envelopes import ParsedEvent, parse_pubsub_message
from asyncimg_processor.worker import QueueWorker

logger = logging.getLogger(__name__)

ParsedHandler = Callable[[ParsedEvent], Mapping[str, Any]]


class PubSubWorker(QueueWorker):
    """``subscription`` is the full path, ``projects/<project>/subscriptions/<name>``."""

    def __init__(
        self,
        subscriber: Any,
        subscription: str,
        handler: ParsedHandler,
        *,
        wait_time: int = 20,
        max_messages: int = 10,
    ) -> None:
        super().__init__()
        self.subscriber = subscriber
        self.subscription = self.source = subscription
        self.handler = handler
        self.wait_time = max(1, wait_time)
        self.min_idle_wait, self.max_idle_wait = 0.1, float(self.wait_time)
        self.max_messages = max(1, max_messages)

    def poll(self) -> int:
        from google.api_core.exceptions import DeadlineExceeded

        try:
            response = self.subscriber.pull(
                request={"subscription": self.subscription, "max_messages": self.max_messages},
                timeout=self.wait_time,
                # No client-side retries: an empty pull is an answer, not an error.
                retry=None,
            )
        except DeadlineExceeded:
            return 0
        received = list(response.received_messages)
        self.stats.received += len(received)
        for index, item in enumerate(received):
            if self._stop.is_set():
                self._release([r.ack_id for r in received[index:]])
                break
            self._handle(item)
        return len(received)

    def _handle(self, item: Any) -> None:
        message = item.message
        message_id = str(message.message_id)
        parsed = parse_pubsub_message(bytes(message.data), dict(message.attributes), message_id)
        try:
            result = self.handler(parsed)
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        except Exception:
            logger.exception("the handler raised on message %s", message_id)
            failed = {message_id}
        if message_id in failed:
            self.stats.failed += 1
            logger.warning("message %s failed; it will be redelivered", message_id)
            return
        self.subscriber.acknowledge(
            request={"subscription": self.subscription, "ack_ids": [item.ack_id]}
        )
        self.stats.deleted += 1

    def _release(self, ack_ids: list[str]) -> None:
        # Received but not started: redeliver now rather than after the ack deadline.
        try:
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": ack_ids,
                    "ack_deadline_seconds": 0,
                }
            )
        except Exception:
            logger.warning("could not release %d message(s)", len(ack_ids))

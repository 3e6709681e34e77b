"""An Azure Storage Queue consumer of Event Grid ``BlobCreated`` events: Blob Storage → Event
Grid → Storage Queue → this worker.

For teams that process images on their own servers instead of an Azure Function, and for
``manage.py asyncimg_worker --source azure-queue``. A received message is invisible for
``visibility_timeout`` seconds; it is deleted once the handler did not report it failed, and a
failed one reappears after that timeout. A message dequeued more than ``max_dequeues`` times is
moved to the poison queue (``<queue>-poison``, the name Azure Functions uses) instead of being
handled again: the queue's dead-letter queue. Storage queues have no long poll, so an empty
receive is followed by a wait that doubles up to ``wait_time`` seconds (interrupted by
``stop()``) and resets when a message arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from asyncimg_processor.envelopes import ParsedEvent, parse_queue_message
from asyncimg_processor.worker import QueueWorker

logger = logging.getLogger(__name__)

ParsedHandler = Callable[[ParsedEvent], Mapping[str, Any]]
#: the first wait after an empty receive
MIN_WAIT = 0.1


class AzureQueueWorker(QueueWorker):
    def __init__(
        self,
        queue: Any,
        handler: ParsedHandler,
        *,
        poison_queue: Any = None,
        wait_time: float = 20,
        max_messages: int = 16,
        visibility_timeout: int = 60,
        max_dequeues: int = 5,
    ) -> None:
        super().__init__()
        self.queue = queue
        self.poison_queue = poison_queue
        self.source = str(getattr(queue, "url", "")) or str(getattr(queue, "queue_name", ""))
        self.handler = handler
        self.min_idle_wait = MIN_WAIT
        self.max_idle_wait = max(MIN_WAIT, wait_time)
        self.max_messages = max(1, min(32, max_messages))  # the service's most per receive
        self.visibility_timeout = visibility_timeout
        self.max_dequeues = max_dequeues

    def poll(self) -> int:
        messages = list(
            self.queue.receive_messages(
                max_messages=self.max_messages,
                messages_per_page=self.max_messages,
                visibility_timeout=self.visibility_timeout,
            )
        )
        self.stats.received += len(messages)
        for index, message in enumerate(messages):
            if self._stop.is_set():
                self._release(messages[index:])
                break
            self._handle(message)
        return len(messages)

    def _handle(self, message: Any) -> None:
        message_id = str(message.id)
        if self.poison_queue is not None and int(message.dequeue_count or 0) > self.max_dequeues:
            self._poison(message.content)
            self.queue.delete_message(message)
            self.stats.failed += 1
            logger.error(
                "message %s failed %d times; moved to the poison queue",
                message_id,
                self.max_dequeues,
            )
            return
        parsed = parse_queue_message(message.content, message_id)
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
        self.queue.delete_message(message)
        self.stats.deleted += 1

    def _poison(self, content: Any) -> None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.poison_queue.send_message(content)
        except ResourceNotFoundError:
            # Created on first use, as Azure Functions does.
            self.poison_queue.create_queue()
            self.poison_queue.send_message(content)

    def _release(self, messages: list[Any]) -> None:
        for message in messages:
            try:
                self.queue.update_message(message, visibility_timeout=0)
            except Exception:
                logger.warning("could not release message %s", message.id)

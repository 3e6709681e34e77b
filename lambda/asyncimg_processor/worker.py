"""A long-polling SQS consumer that feeds the Lambda handler: Lambda's SQS poller, in a process.

Used by ``manage.py asyncimg_worker`` and the demo (which runs it in a thread). Each message is
handed to the handler as a one-record SQS event, exactly as Lambda would, and deleted only when
the handler does not report it in ``batchItemFailures``; a failed message stays in the queue and
is redelivered after its visibility timeout (then, after ``maxReceiveCount``, the dead-letter
queue takes it).

:class:`QueueWorker` is the loop every queue shares (``run``, ``stop``, statistics); the
Pub/Sub and Azure Storage Queue workers (:mod:`asyncimg_processor.pubsub_worker`,
:mod:`asyncimg_processor.azure_queue_worker`) are its other subclasses.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

logger = logging.getLogger(__name__)

Handler = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass
class WorkerStats:
    received: int = 0
    deleted: int = 0
    failed: int = 0


class QueueWorker:
    """Receive, handle, acknowledge. ``stop()`` (any thread, or a signal handler) ends the loop
    after the message being handled; a poll in progress ends first (at most ``wait_time``).

    Subclasses implement :meth:`poll` and name what they read in :attr:`source`.
    """

    #: what the worker reads (a queue URL, a subscription path), for messages to people
    source: str = ""
    #: Seconds to wait after an empty receive, doubling up to ``max_idle_wait``, for queues
    #: whose receive answers at once when empty (no long poll). 0: receive again at once.
    min_idle_wait: float = 0.0
    max_idle_wait: float = 0.0

    def __init__(self) -> None:
        self.stats = WorkerStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, once: bool = False) -> WorkerStats:
        """Poll until :meth:`stop`; with ``once``, until a poll comes back empty."""
        idle_wait = self.min_idle_wait
        while not self._stop.is_set():
            if self.poll():
                idle_wait = self.min_idle_wait
            elif once:
                break
            elif idle_wait:
                self._stop.wait(idle_wait)
                idle_wait = min(self.max_idle_wait, idle_wait * 2)
        return self.stats

    def poll(self) -> int:
        """One receive; handle what came. Returns the number of messages received."""
        raise NotImplementedError


class SqsWorker(QueueWorker):
    """Long-polls one SQS queue; deletes a message once the handler did not report it failed."""

    def __init__(
        self,
        sqs_client: SQSClient,
        queue_url: str,
        handler: Handler,
        *,
        wait_time: int = 20,
        max_messages: int = 10,
    ) -> None:
        super().__init__()
        self.sqs = sqs_client
        self.queue_url = self.source = queue_url
        self.handler = handler
        self.wait_time = max(0, min(20, wait_time))  # SQS allows 0-20 s
        self.max_messages = max(1, min(10, max_messages))

    def poll(self) -> int:
        """One receive; handle what came. Returns the number of messages received."""
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.max_messages,
            WaitTimeSeconds=self.wait_time,
            AttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        self.stats.received += len(messages)
        for index, message in enumerate(messages):
            if self._stop.is_set():
                self._release(messages[index:])
                break
            self._handle(message)
        return len(messages)

    def _handle(self, message: MessageTypeDef) -> None:
        message_id = message.get("MessageId", "")
        event = {
            "Records": [
                {
                    "eventSource": "aws:sqs",
                    "messageId": message_id,
                    "receiptHandle": message.get("ReceiptHandle", ""),
                    "body": message.get("Body", ""),
                    "attributes": message.get("Attributes", {}),
                }
            ]
        }
        try:
            result = self.handler(event)
            failed = {f.get("itemIdentifier") for f in result.get("batchItemFailures", [])}
        except Exception:
            # The handler reports failures itself; an exception here is a bug. Keep the message.
            logger.exception("the handler raised on message %s", message_id)
            failed = {message_id}
        if message_id in failed:
            self.stats.failed += 1
            logger.warning("message %s failed; it will be redelivered", message_id)
            return
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        self.stats.deleted += 1

    def _release(self, messages: list[MessageTypeDef]) -> None:
        # Messages received but not started: make them visible again now rather than after the
        # visibility timeout, so another worker picks them up at once.
        for message in messages:
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=0,
                )
            except Exception:
                logger.warning("could not release message %s", message.get("MessageId"))

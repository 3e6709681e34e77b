"""What an AWS bucket and queue need for the app: CORS for browsers, the S3 → SQS notification and
the queue policy allowing it. ``manage.py asyncimg_doctor`` prints them as fixes; the bundled demo
provisions its moto bucket with them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Id of the notification configuration the doctor's fix (and the demo) installs.
NOTIFICATION_ID = "asyncimg-uploads"


def bucket_cors(origins: Iterable[str]) -> dict[str, Any]:
    """The ``CORSConfiguration`` letting pages on ``origins`` POST uploads and GET images."""
    return {
        "CORSRules": [
            {
                "AllowedOrigins": sorted(set(origins)),
                "AllowedMethods": ["POST", "GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag", "Location"],
                "MaxAgeSeconds": 3000,
            }
        ]
    }


def queue_notification(queue_arn: str, prefix: str) -> dict[str, Any]:
    """The ``NotificationConfiguration`` sending every created object under ``prefix`` to SQS."""
    return {
        "QueueConfigurations": [
            {
                "Id": NOTIFICATION_ID,
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
            }
        ]
    }


def queue_policy(queue_arn: str, bucket: str) -> dict[str, Any]:
    """The queue policy AWS requires before S3 may send events of ``bucket`` to the queue."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowS3ObjectCreated",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }

"""Outgoing mail, pluggable. The default sender keeps messages in a Redis list (the outbox)
that operators and tests can read; ``console`` only logs them. A real SMTP or API sender is
one more class with the same ``send`` method."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Protocol

import orjson
from redis.asyncio import Redis

from pyairtable_platform.kit.logging import get_logger

logger = get_logger(__name__)

OUTBOX_KEY = "pap:mail:outbox"
OUTBOX_LIMIT = 1000


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    body: str
    kind: str
    # A link the message carries (verification, reset, invitation), for UIs and tests.
    link: str | None = None


class MailSender(Protocol):
    async def send(self, message: MailMessage) -> None: ...


class ConsoleMailSender:
    """Writes each message to the log: enough for a single developer's machine."""

    async def send(self, message: MailMessage) -> None:
        logger.info(
            "mail", to=message.to, subject=message.subject, kind=message.kind, link=message.link
        )


class OutboxMailSender:
    """Keeps the newest messages in a Redis list (newest first) and logs them."""

    def __init__(self, redis: Redis, limit: int = OUTBOX_LIMIT) -> None:
        self.redis = redis
        self.limit = limit

    async def send(self, message: MailMessage) -> None:
        entry = orjson.dumps({**asdict(message), "sent_at": time.time()})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(OUTBOX_KEY, entry)
            pipe.ltrim(OUTBOX_KEY, 0, self.limit - 1)
            await pipe.execute()
        logger.info("mail queued in outbox", to=message.to, kind=message.kind)


def create_mail_sender(kind: str, redis: Redis) -> MailSender:
    if kind == "console":
        return ConsoleMailSender()
    return OutboxMailSender(redis)

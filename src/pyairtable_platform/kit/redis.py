"""Redis client factory."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry


def create_redis(url: str, *, max_connections: int = 200) -> Redis:
    # One quick retry on a dropped connection lets a service ride through a Redis restart
    # without itself restarting; timeouts keep a dead Redis from hanging requests.
    return Redis.from_url(
        url,
        decode_responses=False,
        max_connections=max_connections,
        socket_connect_timeout=1.0,
        socket_timeout=2.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), retries=1),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )

"""Settings shared by every service, read from QZX_* environment variables.

Nothing here is built at import time: each service calls ``get_settings()`` in its app factory.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from qzx_common.topics import PARTITIONS

# The HS256 secret when none is configured: fine for `make run`, refused elsewhere (web.auth).
DEV_JWT_SECRET = "qzx-development-secret-change-me"


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QZX_", extra="ignore")

    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5433/qzx",
        description="SQLAlchemy URL; plain postgresql:// is accepted and switched to asyncpg.",
    )
    # The schema owner's URL for migrations. When its user differs from database_url's, the
    # services run as a role that owns nothing: after each upgrade the migration grants that role
    # what the service needs and no more (db.service_grants), so it cannot alter a table nor disable
    # the audit log's append-only trigger. Unset: migrations run as database_url.
    migrate_database_url: str | None = None
    kafka_bootstrap: str = "127.0.0.1:9092"
    # The province every jurisdiction lies in (tokens' jur, partners' admin_prefix): 37 Shandong.
    province_code: str = "37"
    # Prepended to every topic and consumer group: lets several test runs share one broker.
    topic_prefix: str = ""
    # Topic layout when qzx creates a topic (kafka.admin.ensure_topics); -1: the broker's default
    # (`default.replication.factor`, `min.insync.replicas`), which is 1 on the embedded broker.
    topic_partitions: int = Field(default=PARTITIONS, ge=1)
    topic_replication_factor: int = Field(default=-1, ge=-1, le=32767)
    topic_min_insync_replicas: int = Field(default=-1, ge=-1)
    # Development: the built-in HS256 secret and other weak ones are accepted (`make run`, tests).
    dev_mode: bool = False
    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    # Checked only when set (identity providers put their own values in `aud` / `iss`).
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    # How often each replica re-reads the shared token deny-list (qzx_auth.revoked_tokens).
    jwt_revocation_refresh_s: float = 5.0
    # While the database cannot be read, the last list is used for this long; then 503. Each read
    # gives up after jwt_revocation_timeout_s; after a failed one, requests no longer wait for it.
    jwt_revocation_max_stale_s: float = 60.0
    jwt_revocation_timeout_s: float = 2.0
    # Failed authentications per client address: a burst of this many, then one per 1/rate s (429).
    auth_failure_burst: int = 20
    auth_failure_refill_per_s: float = 0.2
    exchange_keys: str = "{}"
    # Proxies whose X-Forwarded-For is believed (uvicorn's forwarded-allow-ips: IPs or networks,
    # comma-separated, "*" any); empty: none, the peer address is the client.
    forwarded_allow_ips: str = ""
    # Largest accepted HTTP body (413 payload_too_large beyond it).
    max_body_bytes: int = 4 * 1024 * 1024
    log_level: str = "INFO"
    log_json: bool = True
    migrate_on_start: bool = True
    # Consumer fetches: the broker answers when it has fetch_min_bytes for us or fetch_max_wait_ms
    # has passed. Under load that is about 20 ms of traffic per fetch rather than a fetch per few
    # records; the embedded broker's CPU per fetch grows with what a topic retains, and at
    # 1,000 ev/s these values took it from 81 % of a core to 37 % and camera → SSE p99 from 376 to
    # 230 ms (README, Benchmarks). Idle, a hop waits at most fetch_max_wait_ms (DESIGN.md §2).
    fetch_max_wait_ms: int = 50
    fetch_min_bytes: int = 16 * 1024
    max_batch: int = 2000
    # A partition whose fetched records have waited this long for a commit makes /readyz fail.
    consumer_stall_s: float = 60.0
    db_pool_size: int = 10
    # A database command with no answer after this is given up (its connection discarded, the
    # batch retried): a partition leaves connections half-open (db.create_engine). Above the
    # slowest legitimate statement; the server ends a transaction idle for the second one.
    db_command_timeout_s: float = Field(default=15.0, gt=0)
    db_idle_transaction_timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _check_topic_layout(self) -> Self:
        for name in ("topic_replication_factor", "topic_min_insync_replicas"):
            if getattr(self, name) == 0:
                raise ValueError(f"QZX_{name.upper()} is -1 (the broker's default) or at least 1")
        rf, isr = self.topic_replication_factor, self.topic_min_insync_replicas
        if rf > 0 and isr > rf:
            raise ValueError(
                f"QZX_TOPIC_MIN_INSYNC_REPLICAS ({isr}) is more than QZX_TOPIC_REPLICATION_FACTOR ({rf})"
            )
        return self

    @field_validator("province_code")
    @classmethod
    def _province(cls, code: str) -> str:
        from qzx_common.jurisdiction import check_province

        return check_province(code)

    @property
    def async_database_url(self) -> str:
        return to_asyncpg_url(self.database_url)

    @property
    def async_migrate_url(self) -> str:
        return to_asyncpg_url(self.migrate_database_url or self.database_url)

    @property
    def service_role(self) -> str | None:
        """The role the service connects as, when migrations run as another one (which grants it)."""
        from sqlalchemy.engine import make_url

        service = make_url(self.async_database_url).username
        owner = make_url(self.async_migrate_url).username
        return service if service and service != owner else None

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"


def to_asyncpg_url(url: str) -> str:
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"unsupported database URL scheme: {url.split(':', 1)[0]}")


def to_plain_url(url: str) -> str:
    """The libpq/asyncpg form (postgresql://...) of a SQLAlchemy URL."""
    return "postgresql://" + to_asyncpg_url(url)[len("postgresql+asyncpg://") :]

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
        description="What the services connect as (`postgresql://user:pass@host:port/db`; plain "
        "postgresql:// is switched to asyncpg). Under `make run`, the role `qzx_service` on the "
        "embedded server.",
    )
    migrate_database_url: str | None = Field(
        default=None,
        description="The schema owner's URL for migrations (unset: `QZX_DATABASE_URL`). When its user "
        "differs, the services run as a role that owns nothing: each upgrade grants that role what "
        "the service needs and no more (`db.service_grants`), so it can neither alter a table nor "
        "disable the audit log's append-only trigger.",
    )
    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092",
        description="Kafka bootstrap servers (`make run` starts the embedded broker here when unset).",
    )
    province_code: str = Field(
        default="37",
        description="The province (two digits) every token's `jur` and every partner's `admin_prefix` "
        "lies in (37: Shandong).",
    )
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic and consumer group (lets several test runs share a broker).",
    )
    topic_partitions: int = Field(
        default=PARTITIONS,
        ge=1,
        description="Partitions of each topic qzx creates (`kafka.admin.ensure_topics`): the most "
        "replicas a service's consumer group can use.",
    )
    topic_replication_factor: int = Field(
        default=-1,
        ge=-1,
        le=32767,
        description="Replicas of each topic qzx creates; -1: the broker's `default.replication.factor` "
        "(1 on the embedded broker).",
    )
    topic_min_insync_replicas: int = Field(
        default=-1,
        ge=-1,
        description="`min.insync.replicas` of each topic qzx creates (producers write with "
        "`acks=all`); -1 leaves the broker's setting.",
    )
    topic_check_s: float = Field(
        default=10.0,
        gt=0,
        description="How often each service creates again any of its topics that has gone from the "
        "broker (one that lost its storage, as the embedded broker's memory on a restart).",
    )
    dev_mode: bool = Field(
        default=False,
        description="Development: accept the built-in HS256 secret and other weak ones (`make run`, tests).",
    )
    jwt_secret: str = Field(
        default=DEV_JWT_SECRET,
        description="HS256 key for bearer tokens: 32+ random bytes (`openssl rand -hex 32`); a "
        "published or shorter one is refused unless `QZX_DEV_MODE` is on.",
    )
    jwt_jwks_url: str | None = Field(
        default=None,
        description="Production: verify RS256 tokens against this JWKS URL (e.g. Keycloak), the key "
        "chosen by the token's `kid`.",
    )
    jwt_audience: str | None = Field(
        default=None, description="Expected `aud` of a token; checked only when set."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Expected `iss` of a token; checked only when set."
    )
    jwt_revocation_refresh_s: float = Field(
        default=5.0,
        description="How often each replica re-reads the shared token deny-list (`qzx_auth.revoked_tokens`).",
    )
    jwt_revocation_max_stale_s: float = Field(
        default=60.0,
        description="While the database cannot be read, the last deny-list is used this long; then 503 "
        "`revocation_list_unavailable`.",
    )
    jwt_revocation_timeout_s: float = Field(
        default=2.0,
        description="Each deny-list read gives up after this; after a failed one, no request waits for the next.",
    )
    auth_failure_burst: int = Field(
        default=20,
        description="Failed authentications a client address may make in a burst before 429.",
    )
    auth_failure_refill_per_s: float = Field(
        default=0.2,
        description="After the burst, failed authentications allowed per second per client address.",
    )
    exchange_keys: str = Field(
        default="{}",
        description='Exchange partners, JSON: `{"key_id": {"secret": "...", "admin_prefix": "37"}}`; '
        "several key ids may be valid at once (rotation).",
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="Proxies whose `X-Forwarded-For` names the client (throttle, audit): uvicorn's "
        'forwarded-allow-ips syntax (IPs or networks, comma-separated, "*" any); empty: the peer is '
        "the client.",
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, description="Largest accepted HTTP body (413 `payload_too_large` beyond it)."
    )
    log_level: str = Field(default="INFO", description="Log level.")
    log_json: bool = Field(default=True, description="Structured JSON logs on stderr (else plain text).")
    migrate_on_start: bool = Field(
        default=True,
        description="Each service upgrades its own schema at start-up (advisory-locked); deployments "
        "set it off and run `qzx migrate` once per release.",
    )
    # Under load these give about 20 ms of traffic per fetch rather than a fetch per few records;
    # the embedded broker's CPU per fetch grows with what a topic retains (docs/decisions/0003).
    fetch_max_wait_ms: int = Field(
        default=50,
        description="Longest a consumer fetch waits for `QZX_FETCH_MIN_BYTES`: the most a hop adds when idle.",
    )
    fetch_min_bytes: int = Field(
        default=16 * 1024,
        description="Data a consumer fetch waits for: under load, fewer and fuller fetches.",
    )
    max_batch: int = Field(
        default=2000, description="Most records a consumer fetches and applies as one batch."
    )
    heap_report_s: float = Field(
        default=0.0,
        ge=0,
        description="Every this many seconds, log the allocation sites that grew most since the first "
        "report (tracemalloc: slows the process, for diagnosing a growing RSS); 0 is off.",
    )
    consumer_stall_s: float = Field(
        default=60.0,
        description="A partition whose fetched records have waited this long for a commit, or a "
        "consumer out of its group this long (a join that does not complete), makes `/readyz` answer "
        "503 (the database away, say).",
    )
    db_pool_size: int = Field(
        default=10, description="Database connection pool size of each process (SQLAlchemy `pool_size`)."
    )
    db_command_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A database command unanswered this long is given up, its connection discarded and "
        "the batch retried (a partition leaves connections half-open); keep it above the slowest statement (bulk roster writes took over 15 s on a loaded 2-core machine).",
    )
    db_idle_transaction_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="The server ends a service's transaction left idle this long (its client lost "
        "mid-batch), releasing its locks.",
    )

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

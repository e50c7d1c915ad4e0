"""Settings from the environment, validated once at start.

Every variable is documented in the package README. A bad value fails fast with a message that
names the variable, because a service that starts with a wrong pool size or URL fails later and
further from the cause.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from .errors import ConfigError


@dataclass(frozen=True)
class Settings:
    database_url: str
    service_name: str = "acme"
    service_version: str = "0"
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 5.0
    pool_recycle: int = 1800
    connect_timeout: int = 5
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 3000
    idle_in_transaction_timeout_ms: int = 10000
    # A request's whole time budget: its statements together may not outlast it (0: no deadline).
    request_deadline_ms: int = 10000
    # libpq TCP keepalives + tcp_user_timeout: a database host that vanishes without closing the
    # connection (power loss, a dropped network path) is noticed in seconds, not after the kernel's
    # two-hour keepalive default or a 15-minute retransmission timeout.
    tcp_keepalives_idle: int = 5
    tcp_keepalives_interval: int = 2
    tcp_keepalives_count: int = 3
    tcp_user_timeout_ms: int = 10000
    # A round trip per checkout; only needed where idle connections can die without the server
    # saying so (see db.py). Off: the free socket check catches restarts and terminated sessions.
    pool_pre_ping: bool = False
    # Consumers (events/consumer.py): how often a failing handler is tried before its event becomes a
    # dead letter, the first pause between tries (doubling, at most events_retry_backoff_max), and the
    # lag behind which a service that runs a consumer is not ready.
    events_max_attempts: int = 5
    events_retry_backoff: float = 0.2
    events_retry_backoff_max: float = 5.0
    events_max_lag_seconds: float = 60.0
    # The LISTEN connection proves itself live with a round trip every listener_ping_interval seconds
    # and is dropped when one takes longer than listener_ping_timeout; invalidating caches are bypassed
    # from interval + timeout after the last proof, and no cached entry is older than cache_max_age.
    listener_ping_interval: float = 1.0
    listener_ping_timeout: float = 2.0
    cache_max_age: float = 30.0
    # What needs a session of its own (LISTEN, migrations and their advisory locks, the registry
    # heartbeat) connects here. Set apart from database_url only when database_url goes through a
    # transaction-mode pooler (PgBouncer): see `pooled`.
    database_direct_url: str = ""

    @property
    def pooled(self) -> bool:
        """DATABASE_URL goes through a transaction-mode pooler: a server connection is ours for one
        transaction only, so nothing may rely on session state (startup options, prepared statements,
        session SETs or advisory locks) on the request pool."""
        return bool(self.database_direct_url) and self.database_direct_url != self.database_url

    @property
    def direct_url(self) -> str:
        return self.database_direct_url or self.database_url

    @property
    def application_name(self) -> str:
        # Postgres shows this in pg_stat_activity: who is connected, at which version.
        return f"{self.service_name}/{self.service_version}"[:63]

    @property
    def sqlalchemy_url(self) -> str:
        return to_sqlalchemy_url(self.database_url)


def tcp_liveness_params(settings: Settings) -> dict[str, int]:
    """libpq connection parameters that make a silently dead peer an error within seconds. Every
    long-lived connection to the database should use them (the pool, the heartbeat, a listener)."""
    return {
        "keepalives": 1,
        "keepalives_idle": settings.tcp_keepalives_idle,
        "keepalives_interval": settings.tcp_keepalives_interval,
        "keepalives_count": settings.tcp_keepalives_count,
        "tcp_user_timeout": settings.tcp_user_timeout_ms,
    }


def to_sqlalchemy_url(url: str) -> str:
    """Accept the libpq-style URL people have (postgres://, postgresql://) and pick the psycopg 3 driver.

    A multi-host URL in libpq's form (`postgresql://u:p@a:5432,b:5432/acme?target_session_attrs=read-write`,
    how a primary and its standby are named) is moved into the form SQLAlchemy parses: its URL grammar has
    one host and an integer port, and reads several from the query (`?host=a:5432&host=b:5432`), which its
    psycopg dialect hands back to libpq as `host=a,b port=5432,5432`.
    """
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + _hosts_to_query(url[len(prefix):])
    raise ConfigError("DATABASE_URL", "must start with postgresql:// (got %r)" % _redact(url))


def _hosts_to_query(rest: str) -> str:
    """`user:pw@a:1,b:2/db?x=y` -> `user:pw@/db?host=a:1&host=b:2&x=y`; one host is left as it is."""
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]
    auth, at, hosts = netloc.rpartition("@")
    if "," not in hosts:
        return rest
    path, _, query = tail.partition("?")
    params = [f"host={h}" for h in hosts.split(",") if h]
    return f"{auth}{at}{path or '/'}?" + "&".join(params + ([query] if query else []))


def to_libpq_url(url: str) -> str:
    """The same URL in the form plain psycopg / psql accept."""
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix):]
    return url


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


def env_int(name: str, default: int, minimum: int, maximum: int, environ: Mapping[str, str] | None = None) -> int:
    """An integer setting from the environment, validated as the platform's own are (a bad value raises
    ConfigError naming the variable): for a domain's settings, so each domain does not parse them again."""
    return _int(os.environ if environ is None else environ, name, default, minimum, maximum)


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer (got {raw!r})") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum} and {maximum} (got {value})")
    return value


def _float(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"must be a number (got {raw!r})") from None
    if not minimum <= value <= maximum:
        raise ConfigError(name, f"must be between {minimum} and {maximum} (got {value})")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false (got {raw!r})")


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    service_name: str | None = None,
    service_version: str | None = None,
) -> Settings:
    """Read and validate settings. Raises ConfigError naming the first bad variable."""
    env = os.environ if environ is None else environ
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        raise ConfigError("DATABASE_URL", "is required (e.g. postgresql://user:password@127.0.0.1:5544/acme)")
    to_sqlalchemy_url(url)  # validates the scheme
    direct_url = env.get("DATABASE_DIRECT_URL", "").strip()
    if direct_url:
        if not direct_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
            raise ConfigError("DATABASE_DIRECT_URL", "must start with postgresql:// (got %r)" % _redact(direct_url))
    name = env.get("ACME_SERVICE_NAME") or service_name or "acme"
    if not all(c.isalnum() or c in "-_." for c in name):
        raise ConfigError("ACME_SERVICE_NAME", f"may contain letters, digits, '-', '_' and '.' only (got {name!r})")
    return Settings(
        database_url=url,
        database_direct_url=direct_url,
        service_name=name,
        service_version=env.get("ACME_SERVICE_VERSION") or service_version or "0",
        pool_size=_int(env, "ACME_DB_POOL_SIZE", 5, 1, 200),
        max_overflow=_int(env, "ACME_DB_MAX_OVERFLOW", 5, 0, 200),
        pool_timeout=_float(env, "ACME_DB_POOL_TIMEOUT", 5.0, 0.1, 300),
        pool_recycle=_int(env, "ACME_DB_POOL_RECYCLE", 1800, 10, 86400),
        connect_timeout=_int(env, "ACME_DB_CONNECT_TIMEOUT", 5, 1, 120),
        statement_timeout_ms=_int(env, "ACME_DB_STATEMENT_TIMEOUT_MS", 5000, 0, 3_600_000),
        lock_timeout_ms=_int(env, "ACME_DB_LOCK_TIMEOUT_MS", 3000, 0, 3_600_000),
        idle_in_transaction_timeout_ms=_int(env, "ACME_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000, 0, 3_600_000),
        pool_pre_ping=_bool(env, "ACME_DB_PRE_PING", False),
        events_max_attempts=_int(env, "ACME_EVENTS_MAX_ATTEMPTS", 5, 1, 100),
        events_retry_backoff=_float(env, "ACME_EVENTS_RETRY_BACKOFF", 0.2, 0.0, 60),
        events_retry_backoff_max=_float(env, "ACME_EVENTS_RETRY_BACKOFF_MAX", 5.0, 0.0, 3600),
        events_max_lag_seconds=_float(env, "ACME_EVENTS_MAX_LAG_SECONDS", 60.0, 1.0, 86400),
        listener_ping_interval=_float(env, "ACME_LISTENER_PING_INTERVAL", 1.0, 0.1, 60),
        listener_ping_timeout=_float(env, "ACME_LISTENER_PING_TIMEOUT", 2.0, 0.1, 60),
        cache_max_age=_float(env, "ACME_CACHE_MAX_AGE", 30.0, 0.0, 86400),
        request_deadline_ms=_int(env, "ACME_REQUEST_DEADLINE_MS", 10000, 0, 3_600_000),
        tcp_keepalives_idle=_int(env, "ACME_DB_KEEPALIVES_IDLE", 5, 1, 7200),
        tcp_keepalives_interval=_int(env, "ACME_DB_KEEPALIVES_INTERVAL", 2, 1, 600),
        tcp_keepalives_count=_int(env, "ACME_DB_KEEPALIVES_COUNT", 3, 1, 100),
        tcp_user_timeout_ms=_int(env, "ACME_DB_TCP_USER_TIMEOUT_MS", 10000, 0, 3_600_000),
    )

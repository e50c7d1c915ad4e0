"""acme-platform: the runtime shared by Acme domain libraries and services.

Public API: the names in __all__. Everything else may change without notice.
"""
from .config import Settings, load_settings
from .db import Database, create_engine
from .domains import DomainSpec, installed_domains
from .errors import (
    ConfigError,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    PaymentRequired,
    TooManyRequests,
    Unauthenticated,
    Unavailable,
)
from .events.cache import InvalidatingCache
from .events.consumer import Consumer
from .events.listener import ChangeListener
from .events.outbox import Event, flush_events, publish, publish_many
from .gevent_compat import GeventCompatibilityError, ensure_cooperative_waits, run_cpu_bound
from .principal import Principal
from .telemetry import instrument_domain
from .uow import UnitOfWork

__all__ = [
    "Settings",
    "load_settings",
    "Database",
    "create_engine",
    "UnitOfWork",
    "DomainSpec",
    "installed_domains",
    "instrument_domain",
    "Principal",
    "ConfigError",
    "DomainError",
    "NotFound",
    "Conflict",
    "InvalidInput",
    "Unauthenticated",
    "Forbidden",
    "PaymentRequired",
    "Unavailable",
    "TooManyRequests",
    "Event",
    "publish",
    "publish_many",
    "flush_events",
    "Consumer",
    "ChangeListener",
    "InvalidatingCache",
    "ensure_cooperative_waits",
    "run_cpu_bound",
    "GeventCompatibilityError",
]

"""Password hashing with argon2id (argon2-cffi), and the one environment switch tests use.

ACME_IDENTITY_ARGON2_PROFILE:
  unset / "default"  argon2-cffi's own defaults (RFC 9106 low-memory profile). Use this in production.
  "fast"             argon2-cffi's CHEAPEST profile: keeps test suites quick. Never in production:
                     it makes stolen hashes cheap to crack. Hashes made with it are upgraded to the
                     default parameters on the next successful login under the default profile.

ACME_IDENTITY_HASHES_PER_WORKER (default 1): how many login password checks one worker process runs
at once (hashing_slot). argon2 is CPU and memory bound: more at once than the host has cores only
makes every one of them slower, while a worker's other requests wait for the CPU too. The default fits
the default deployment: 2 workers (ACME_WEB_WORKERS) on 2 cores, one check per core.
"""
from __future__ import annotations

import base64
import os
import secrets
import contextlib
import threading
from typing import Iterator

from acme_platform import ConfigError
from acme_platform import run_cpu_bound
from argon2 import PasswordHasher, Type, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import hash_secret

PROFILE_ENV = "ACME_IDENTITY_ARGON2_PROFILE"
SLOTS_ENV = "ACME_IDENTITY_HASHES_PER_WORKER"
_PROFILES = {
    "default": PasswordHasher,
    "fast": lambda: PasswordHasher.from_parameters(profiles.CHEAPEST),
}
_hashers: dict[str, PasswordHasher] = {}
_dummy_hashes: dict[str, str] = {}
_lock = threading.Lock()


def _profile() -> str:
    name = os.environ.get(PROFILE_ENV, "").strip().lower() or "default"
    if name not in _PROFILES:
        raise ConfigError(PROFILE_ENV, f"must be one of {', '.join(sorted(_PROFILES))} (got {name!r})")
    return name


def hasher() -> PasswordHasher:
    name = _profile()
    found = _hashers.get(name)
    if found is None:
        with _lock:
            found = _hashers.setdefault(name, _PROFILES[name]())
    return found


_slots: dict[int, threading.BoundedSemaphore] = {}


def hashes_per_worker() -> int:
    raw = os.environ.get(SLOTS_ENV, "").strip() or "1"
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(SLOTS_ENV, f"must be an integer (got {raw!r})") from None
    if not 1 <= value <= 64:
        raise ConfigError(SLOTS_ENV, f"must be between 1 and 64 (got {value})")
    return value


def _semaphore() -> threading.BoundedSemaphore:
    # Per process and made on first use: in a gevent worker `threading` is patched by then, so waiting
    # greenlets never block the hub; a semaphore inherited across fork would carry the parent's count.
    pid = os.getpid()
    found = _slots.get(pid)
    if found is None:
        with _lock:
            found = _slots.setdefault(pid, threading.BoundedSemaphore(hashes_per_worker()))
    return found


@contextlib.contextmanager
def hashing_slot() -> Iterator[None]:
    """Hold one of this worker's password-check slots, or raise LoginBusy at once when all are taken.

    Refusing instead of queueing is the point: a queue of logins would hold their clients (and, before
    this existed, pool connections) for as long as the flood lasts."""
    from .errors import LoginBusy

    semaphore = _semaphore()
    if not semaphore.acquire(blocking=False):
        raise LoginBusy("this server is checking too many passwords at once; retry shortly", retry_after=1)
    try:
        yield
    finally:
        semaphore.release()


def hash_password(password: str) -> str:
    # argon2 is deliberately slow and releases the GIL: off the gevent hub, so one sign-up does not
    # stall every other request of the worker.
    return run_cpu_bound(hasher().hash, password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return run_cpu_bound(hasher().verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return False


# -- checking a password against a digest the database keeps to itself (migration id0002) ---------

_TYPES = {"argon2id": Type.ID, "argon2i": Type.I, "argon2d": Type.D}


def _b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def candidate_hash(params: str, digest_chars: int, password: str) -> str | None:
    """The encoded argon2 hash `password` would have under the stored parameters and salt
    (`$argon2id$v=19$m=…,t=…,p=…$<salt>`, the stored hash minus its digest): equal to the stored hash
    exactly when the password is right. None when the parameters are not an argon2 hash we can redo."""
    parts = params.split("$")
    try:
        _, kind, version, costs, salt = parts
        settings = dict(item.split("=", 1) for item in costs.split(","))
        return run_cpu_bound(
            lambda: hash_secret(password.encode(), _b64decode(salt), time_cost=int(settings["t"]),
                                memory_cost=int(settings["m"]), parallelism=int(settings["p"]),
                                hash_len=digest_chars * 3 // 4, type=_TYPES[kind],
                                version=int(version.removeprefix("v="))).decode())
    except (ValueError, KeyError, TypeError):
        return None


def params_need_rehash(params: str, digest_chars: int) -> bool:
    """check_needs_rehash on the parameters alone (the digest's value plays no part in it)."""
    try:
        return hasher().check_needs_rehash(f"{params}${'A' * digest_chars}")
    except (InvalidHashError, ValueError):
        return False


def burn_verification(password: str) -> None:
    """Spend one real verification when there is no account, so the response time of a login for an
    unknown email matches that of a wrong password."""
    name = _profile()
    dummy = _dummy_hashes.get(name)
    if dummy is None:
        # Hash outside the lock: hasher() takes the same (non-reentrant) lock on first use, and a
        # racing duplicate dummy hash is harmless.
        fresh = hash_password(secrets.token_urlsafe(16))
        with _lock:
            dummy = _dummy_hashes.setdefault(name, fresh)
    verify_password(dummy, password)

"""authenticate() with an in-process cache that forgets a token the moment it is revoked anywhere.

Keyed by the token's sha256 (the secret itself is never kept). Revocations arrive as
`identity.token_revoked` events keyed by token id, so a token_id -> hash index maps them to
entries. Correctness rests on acme_platform.InvalidatingCache:
  - every invalidation bumps its generation, and an entry loaded before an invalidation is not
    stored: a revocation that commits while we are reading the token cannot be overwritten by our
    stale copy;
  - while the ChangeListener is disconnected nothing is served or stored (notifications may be
    lost), and it is flushed when the listener reconnects.
Expiry and scope are checked on every hit, not only when loading.
"""
from __future__ import annotations

import threading
from datetime import datetime
from typing import Callable

from acme_platform import ChangeListener, InvalidatingCache, Principal, UnitOfWork

from .events import TOKEN_REVOKED
from .model import token_hash
from .service import TokenRecord, check_access, load_token, utcnow


class Authenticator:
    def __init__(self, listener: ChangeListener, max_entries: int = 100_000, *,
                 clock: Callable[[], datetime] = utcnow):
        self._clock = clock
        self._max_entries = max_entries
        self._index: dict[str, bytes] = {}      # token_id -> token hash, for cached (or being cached) tokens
        self._index_lock = threading.Lock()
        self._cache: InvalidatingCache[bytes, TokenRecord] = InvalidatingCache(
            listener, [TOKEN_REVOKED], max_entries=max_entries, key_of_event=self._hash_of_revoked,
        )
        self.hits = 0
        self.misses = 0

    def authenticate(self, uow: UnitOfWork, token: str, *, required_scope: str | None = None) -> Principal:
        digest = token_hash(token)
        now = self._clock()
        record = self._cache.get(digest)
        if record is not None:
            self.hits += 1
            return check_access(record, now, required_scope)
        self.misses += 1
        # Read the generation BEFORE the database: a revocation landing after this point makes the
        # put below a no-op, whether or not our SELECT saw it.
        generation = self._cache.generation()
        record = load_token(uow, digest, now)   # raises for unknown / revoked / expired: nothing cached
        # Index first, then put: a revocation event arriving between the two finds the hash, bumps the
        # generation and so stops the put.
        self._remember(record.principal.token_id, digest)
        self._cache.put(digest, record, loaded_at_generation=generation)
        return check_access(record, now, required_scope)

    def __len__(self) -> int:
        return len(self._cache)

    # -- revocation index ------------------------------------------------------------------------
    def _hash_of_revoked(self, token_id: str) -> bytes | None:
        # Called on the listener thread. For a token not cached here the result is None, which
        # still bumps the cache generation (see module doc) and removes nothing.
        with self._index_lock:
            return self._index.pop(token_id, None)

    def _remember(self, token_id: str | None, digest: bytes) -> None:
        if token_id is None:
            return
        with self._index_lock:
            self._index[token_id] = digest
            if len(self._index) > 2 * self._max_entries:
                self._prune_index()

    def _prune_index(self) -> None:
        # The cache evicts least-recently-used entries without telling us, so the index keeps ids of
        # evicted tokens. Rebuild it from what is still cached. Runs under _index_lock; the pass over
        # the cache bumps its generation, so a load whose id we drop here can no longer be stored.
        live: set[bytes] = set()
        self._cache.invalidate_where(lambda key, _record: live.add(key))  # returns None: removes nothing
        self._index = {tid: digest for tid, digest in self._index.items() if digest in live}

"""An in-process cache whose entries die when the owning domain publishes a change.

The seed article's warning: state kept outside the database diverges between separately deployed
services. This cache is only trusted while the process's ChangeListener is connected and proven live
(a round trip on its connection within the last few seconds, see listener.py); a dropped or stalled
connection flushes it (notifications may have been lost) and it serves nothing until reconnected:
reads go through to the database meanwhile. Every entry also has a maximum age (`max_age`, by default
the listener's `max_entry_age`, ACME_CACHE_MAX_AGE): a change whose notification was lost some other
way is served for at most that long.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterable, TypeVar

from .listener import ChangeListener

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class InvalidatingCache(Generic[K, V]):
    def __init__(
        self,
        listener: ChangeListener,
        topics: Iterable[str],
        *,
        max_entries: int = 10_000,
        key_of_event: Callable[[str], K] = lambda key: key,  # type: ignore[assignment,return-value]
        max_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._listener = listener
        self._max = max_entries
        self.max_age = max_age if max_age is not None else getattr(listener, "max_entry_age", 30.0)
        self._clock = clock
        self._entries: OrderedDict[K, tuple[V, float]] = OrderedDict()   # value, stored at
        self._lock = threading.Lock()
        # A value loaded while its key (or everything) was invalidated is not stored. Per-key counters,
        # so a busy key (every reservation changes a product) does not block loads of other keys.
        self._generation = 0
        self._key_generations: dict[K, int] = {}
        self._key_of_event = key_of_event
        self.hits = 0
        self.misses = 0
        for topic in topics:
            listener.subscribe(topic, self._on_change)
        listener.on_reset(self.clear)

    def _on_change(self, key: str | None) -> None:
        if key is None:
            self.clear()
        else:
            self.invalidate(self._key_of_event(key))

    def get(self, key: K) -> V | None:
        if not self._listener.connected:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, stored_at = entry
            if self._clock() - stored_at > self.max_age:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def generation(self, key: K | None = None) -> tuple[int, int]:
        with self._lock:
            return self._generation, self._key_generations.get(key, 0)

    def put(self, key: K, value: V, *, loaded_at_generation: tuple[int, int] | None = None) -> None:
        if not self._listener.connected:
            return
        with self._lock:
            current = (self._generation, self._key_generations.get(key, 0))
            if loaded_at_generation is not None and loaded_at_generation != current:
                return
            self._entries[key] = (value, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def get_or_load(self, key: K, loader: Callable[[], V | None]) -> V | None:
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        generation = self.generation(key)
        value = loader()
        if value is not None:
            self.put(key, value, loaded_at_generation=generation)
        return value

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._key_generations[key] = self._key_generations.get(key, 0) + 1
            if len(self._key_generations) > 2 * self._max:
                # Forget per-key counters wholesale; bumping the global one keeps in-flight loads honest.
                self._key_generations.clear()
                self._generation += 1
            self._entries.pop(key, None)

    def invalidate_where(self, predicate: Callable[[K, V], bool]) -> None:
        with self._lock:
            self._generation += 1
            for k in [k for k, (v, _) in self._entries.items() if predicate(k, v)]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def keys(self) -> list[K]:
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

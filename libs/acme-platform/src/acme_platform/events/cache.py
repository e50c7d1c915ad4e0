"""An in-process cache whose entries die when the owning domain publishes a change.

The seed article's warning: state kept outside the database diverges between separately deployed
services. This cache is only trusted while the process's ChangeListener is connected; a dropped
connection flushes it (notifications may have been lost) and it serves nothing until reconnected.
"""
from __future__ import annotations

import threading
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
    ):
        self._listener = listener
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped on every invalidation: a value loaded before an invalidation is not stored.
        self._generation = 0
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
            value = self._entries.get(key)
            if value is not None:
                self._entries.move_to_end(key)
            return value

    def generation(self) -> int:
        return self._generation

    def put(self, key: K, value: V, *, loaded_at_generation: int | None = None) -> None:
        if not self._listener.connected:
            return
        with self._lock:
            if loaded_at_generation is not None and loaded_at_generation != self._generation:
                return
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def get_or_load(self, key: K, loader: Callable[[], V | None]) -> V | None:
        value = self.get(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        generation = self._generation
        value = loader()
        if value is not None:
            self.put(key, value, loaded_at_generation=generation)
        return value

    def invalidate(self, key: K) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(key, None)

    def invalidate_where(self, predicate: Callable[[K, V], bool]) -> None:
        with self._lock:
            self._generation += 1
            for k in [k for k, v in self._entries.items() if predicate(k, v)]:
                del self._entries[k]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

"""Per-process caches that trust a value for a few seconds: one helper, one registry, one `clear_all()`.

A value read in the last `seconds` (by this process's monotonic clock) is answered from memory; an older one is
read again. Every cache registers itself when made, so tests (and a process that must forget everything) clear
them all in one call instead of reaching for private names. `set_clock` swaps the monotonic clock of every
cache, so a test moves time instead of waiting for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from typing import Final, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Missing:
    """Nothing cached (or expired): distinct from a cached `None`, which caches use for "known absent"."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()

_monotonic: Callable[[], float] = time.monotonic
_registry: list[TtlCache[object, object]] = []


def monotonic() -> float:
    """Seconds from the clock every cache ages its entries by (`time.monotonic` unless a test set another)."""
    return _monotonic()


def set_clock(clock: Callable[[], float] | None) -> None:
    """Age every cache's entries by `clock` (seconds, monotonic); None: back to `time.monotonic`."""
    global _monotonic
    _monotonic = clock or time.monotonic


class TtlCache(Generic[K, V]):
    """Entries trusted for `seconds`. Keys may come from the public (tenant names): at `max_entries` the cache
    starts over rather than grow without bound."""

    def __init__(self, name: str, seconds: float, *, max_entries: int = 10_000) -> None:
        self.name, self.seconds, self.max_entries = name, seconds, max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        _registry.append(self)  # type: ignore[arg-type]

    def get(self, key: K) -> V | Missing:
        """The value stored under `key` within the last `seconds`, else MISSING."""
        hit = self._entries.get(key)
        if hit is None or monotonic() - hit[0] > self.seconds:
            return MISSING
        return hit[1]

    def put(self, key: K, value: V) -> V:
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (monotonic(), value)
        return value

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def discard_where(self, predicate: Callable[[V], bool]) -> None:
        """Forget every entry whose value matches (e.g. the principals of one revoked key)."""
        for key in [k for k, (_at, value) in self._entries.items() if predicate(value)]:
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"TtlCache({self.name!r}, {self.seconds:g} s, {len(self)} entries)"


def registered() -> Iterator[TtlCache[object, object]]:
    """Every cache made so far in this process."""
    return iter(list(_registry))


def clear_all() -> None:
    """Forget every cached value in this process."""
    for cache in _registry:
        cache.clear()

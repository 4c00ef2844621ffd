"""Thread-safe LRU caches bounded in entries and in bytes, and a size estimate of cached values.

Nothing here imports Flask. Every cache of the service is one of these, so each has a stated
bound (README, Performance): a :class:`GraphCache` never holds more than ``max_entries`` values
nor values of more than ``max_bytes`` bytes; keys and bookkeeping add about :data:`ENTRY_OVERHEAD`
bytes per entry on top, which the entry bound caps.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import fields, is_dataclass
from typing import Any

_MISSING = object()
#: About how many bytes an entry holds besides its value (key tuple, dict slot, size record).
ENTRY_OVERHEAD = 300


class GraphCache:
    """Thread-safe LRU cache of derived, read-only values (grid snaps, node times, pages), bounded twice.

    One lock guards the ordering and the byte count; values are computed outside the lock, so two
    threads may compute the same key at once (the first one stored wins and both get an equal value).
    Cached numpy arrays must be treated as read-only; the graph's own arrays are never touched.

    Parameters
    ----------
    max_bytes
        Budget for the sum of the entries' sizes; least recently used entries are dropped beyond it.
    max_entries
        Most entries held, whatever their size.
    """

    def __init__(self, max_bytes: int = 192 * 2**20, max_entries: int = 4096) -> None:
        self.max_bytes = int(max_bytes)
        self.max_entries = int(max_entries)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def nbytes(self) -> int:
        """Bytes of the values currently held."""
        with self._lock:
            return self._bytes

    def configure(self, *, max_bytes: int | None = None, max_entries: int | None = None) -> None:
        """Change the bounds, dropping least recently used entries at once when over them."""
        with self._lock:
            if max_bytes is not None:
                self.max_bytes = int(max_bytes)
            if max_entries is not None:
                self.max_entries = int(max_entries)
            self._trim()

    def get(self, key: Hashable, default: Any = None) -> Any:
        """Return the value for ``key`` (marking it recently used), or ``default``."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return default
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: Any, nbytes: int) -> Any:
        """Store ``value`` (``nbytes`` large) unless another thread stored ``key`` first; return the stored value.

        A value larger than the whole budget is returned without being stored.
        """
        size = int(nbytes)
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
            if size > self.max_bytes or self.max_entries < 1:
                return value
            self._items[key] = (value, size)
            self._bytes += size
            self._trim()
            return value

    def _trim(self) -> None:
        """Drop least recently used entries while over a bound (the lock is held)."""
        while self._items and (self._bytes > self.max_bytes or len(self._items) > self.max_entries):
            _, (_, size) = self._items.popitem(last=False)
            self._bytes -= size

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int]]) -> Any:
        """Return the cached value, else ``compute()`` → ``(value, nbytes)``, stored and returned."""
        hit = self.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        value, nbytes = compute()
        return self.put(key, value, nbytes)

    def discard(self, match: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key satisfies ``match``; return how many were dropped."""
        with self._lock:
            gone = [k for k in self._items if match(k)]
            for k in gone:
                self._bytes -= self._items.pop(k)[1]
            return len(gone)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def view(self, namespace: Hashable) -> CacheView:
        """A :class:`CacheView` whose keys live under ``namespace`` in this cache (and its bounds)."""
        return CacheView(self, namespace)


class CacheView:
    """The part of a :class:`GraphCache` under one namespace, with the same interface.

    Scenario graphs use views of the base graph's cache, so every graph of the process shares one
    pair of bounds instead of each graph having a budget of its own.
    """

    def __init__(self, parent: GraphCache, namespace: Hashable) -> None:
        self.parent, self.namespace = parent, namespace

    def _mine(self, key: Hashable) -> bool:
        return isinstance(key, tuple) and len(key) == 2 and key[0] == self.namespace

    def __len__(self) -> int:
        with self.parent._lock:
            return sum(1 for k in self.parent._items if self._mine(k))

    def __contains__(self, key: Hashable) -> bool:
        return (self.namespace, key) in self.parent

    @property
    def nbytes(self) -> int:
        """Bytes held under this namespace."""
        with self.parent._lock:
            return sum(size for k, (_, size) in self.parent._items.items() if self._mine(k))

    @property
    def max_bytes(self) -> int:
        """The shared byte bound."""
        return self.parent.max_bytes

    def get(self, key: Hashable, default: Any = None) -> Any:
        """As :meth:`GraphCache.get`."""
        return self.parent.get((self.namespace, key), default)

    def put(self, key: Hashable, value: Any, nbytes: int) -> Any:
        """As :meth:`GraphCache.put`."""
        return self.parent.put((self.namespace, key), value, nbytes)

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int]]) -> Any:
        """As :meth:`GraphCache.get_or_compute`."""
        return self.parent.get_or_compute((self.namespace, key), compute)

    def clear(self) -> None:
        """Drop this namespace's entries only."""
        self.parent.discard(self._mine)


def deep_nbytes(value: Any, _seen: set[int] | None = None) -> int:
    """Estimate the memory held by ``value``: numpy and scipy arrays, frames, dataclasses, containers.

    Objects reached twice are counted once. Used to size cache entries whose size is not known
    from one array (a surface and its table, a travel graph, a rendered page).
    """
    seen = set() if _seen is None else _seen
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if isinstance(value, bytes | bytearray | str):
        return sys.getsizeof(value)
    if hasattr(value, "nbytes") and hasattr(value, "dtype"):  # numpy array
        return int(value.nbytes) + 112
    if hasattr(value, "indptr") and hasattr(value, "indices"):  # scipy sparse matrix
        return sum(deep_nbytes(getattr(value, a), seen) for a in ("data", "indices", "indptr"))
    if hasattr(value, "memory_usage") and hasattr(value, "columns"):  # pandas frame
        return int(value.memory_usage(index=True, deep=True).sum())
    if is_dataclass(value) and not isinstance(value, type):
        return sys.getsizeof(value) + sum(deep_nbytes(getattr(value, f.name, None), seen) for f in fields(value))
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(deep_nbytes(k, seen) + deep_nbytes(v, seen) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return sys.getsizeof(value) + sum(deep_nbytes(v, seen) for v in value)
    return sys.getsizeof(value)

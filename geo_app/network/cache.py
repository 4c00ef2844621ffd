"""A thread-safe LRU cache bounded in bytes, for values derived from an immutable graph.

Nothing here imports Flask.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class GraphCache:
    """Thread-safe LRU cache of derived, read-only values (grid snaps, node times), bounded in bytes.

    One lock guards the ordering and the byte count; values are computed outside the lock, so two
    threads may compute the same key at once (the first one stored wins and both get an equal value).
    Cached numpy arrays must be treated as read-only; the graph's own arrays are never touched.

    Parameters
    ----------
    max_bytes
        Budget for the sum of the entries' sizes; least recently used entries are dropped beyond it.
    """

    def __init__(self, max_bytes: int = 192 * 2**20) -> None:
        self.max_bytes = int(max_bytes)
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
        """Bytes currently held."""
        with self._lock:
            return self._bytes

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
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
                return hit[0]
            if nbytes > self.max_bytes:
                return value
            self._items[key] = (value, int(nbytes))
            self._bytes += int(nbytes)
            while self._bytes > self.max_bytes:
                _, (_, size) = self._items.popitem(last=False)
                self._bytes -= size
            return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], tuple[Any, int]]) -> Any:
        """Return the cached value, else ``compute()`` → ``(value, nbytes)``, stored and returned."""
        hit = self.get(key, _MISSING)
        if hit is not _MISSING:
            return hit
        value, nbytes = compute()
        return self.put(key, value, nbytes)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._bytes = 0

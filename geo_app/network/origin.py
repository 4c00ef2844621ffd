"""Where a travel graph came from, so another process can load it from the same files instead of receiving it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def file_stamp(path: Path | None) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file (None for no file)."""
    if path is None:
        return None
    st = Path(path).stat()
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True)
class GraphOrigin:
    """The files a graph was built from (small, hashable, picklable).

    Attributes
    ----------
    data_dir, reference_dir, cache_dir
        As given to :func:`~geo_app.network.modes.build_graph` (absolute paths).
    network
        The road network file that was loaded (None for the trunk corridors).
    stamp
        ``(size, mtime_ns)`` of ``network`` when it was loaded, to refuse a file changed since.
    scenario
        ``(path, text)`` of the scenario applied to the base graph, None for the base graph.
    """

    data_dir: str
    reference_dir: str
    cache_dir: str | None
    network: str | None
    stamp: tuple[int, int] | None
    scenario: tuple[str, str] | None = None

    def check(self) -> None:
        """Raise :class:`~geo_app.errors.DataFileError` when the network file changed since it was loaded."""
        if self.network is None:
            return
        from ..errors import DataFileError

        path = Path(self.network)
        if not path.exists() or file_stamp(path) != self.stamp:
            raise DataFileError(f"road network {path} changed or vanished since the graph was built")

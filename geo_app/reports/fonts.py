"""Find a system font that has Chinese glyphs (through fontconfig), for static maps and PDFs.

No web font is shipped and nothing is downloaded: the report uses a CJK font installed on the
machine (Debian: ``fonts-wqy-microhei`` or ``fonts-noto-cjk``), found with ``fc-list :lang=zh-cn``
in the order of :data:`PREFERRED`. A ``.ttc`` collection is returned with the face index of the
family, so both matplotlib and reportlab open the right face.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: Families tried first, in order (sans-serif faces read best in small table text).
PREFERRED = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC",
             "WenQuanYi Zen Hei", "AR PL UMing CN", "Noto Serif CJK SC")


class FontNotFound(RuntimeError):
    """No font with Chinese glyphs is installed."""


@dataclass(frozen=True)
class CJKFont:
    """A font file with Chinese glyphs, and the face to use in it."""

    path: Path
    index: int
    family: str


def _fc_list() -> list[tuple[str, int, str]]:
    """``(file, index, family)`` of every installed font that covers Simplified Chinese."""
    exe = shutil.which("fc-list")
    if exe is None:
        return []
    out = subprocess.run([exe, ":lang=zh-cn", "--format", "%{file}\t%{index}\t%{family}\n"],
                         capture_output=True, text=True, timeout=20, check=False).stdout
    fonts = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].lower().endswith((".ttf", ".ttc", ".otf", ".otc")):
            fonts.append((parts[0], int(parts[1] or 0), parts[2]))
    return fonts


def _rank(family: str) -> int:
    names = [f.strip() for f in family.split(",")]
    for i, want in enumerate(PREFERRED):
        if want in names:
            return i
    return len(PREFERRED)


@functools.lru_cache(maxsize=4)
def cjk_font(path: str | None = None, index: int = 0) -> CJKFont:
    """Return the CJK font to draw and embed.

    Parameters
    ----------
    path
        A font file to use instead of searching (``index`` is its face in a collection).

    Raises
    ------
    FontNotFound
        When no installed font covers Chinese.
    """
    if path:
        return CJKFont(Path(path), index, Path(path).stem)
    # TrueType outlines only: PDF embedding of CFF-based OpenType (.otf) is not supported by reportlab.
    fonts = [f for f in _fc_list() if f[0].lower().endswith((".ttf", ".ttc"))]
    if not fonts:
        raise FontNotFound("no TrueType font with Chinese glyphs found by fontconfig "
                           "(Debian: apt-get install fonts-wqy-microhei)")
    file, face, family = min(fonts, key=lambda f: (_rank(f[2]), f[1], f[0]))
    return CJKFont(Path(file), face, family.split(",")[0].strip())

"""UI strings in Chinese (first) and English, and the language choice."""

from __future__ import annotations

from flask import request

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "app_title": {"zh": "梅河口市融入长春都市圈规划地图", "en": "Meihekou – Changchun metro planning map"},
    "nav_overview": {"zh": "总览", "en": "Overview"},
    "nav_isochrones": {"zh": "等时圈", "en": "Isochrones"},
    "nav_accessibility": {"zh": "2小时通达", "en": "2-hour reach"},
    "nav_reviews": {"zh": "选址评估", "en": "Siting reviews"},
    "legend": {"zh": "图例", "en": "Legend"},
    "notices": {"zh": "数据质量提示", "en": "Data quality notices"},
    "no_geometry": {"zh": "无几何的要素", "en": "Features without geometry"},
    "no_geometry_why": {
        "zh": "以下要素在数据包中没有真实位置或边界，因此未绘制，仅列出：",
        "en": "These features have no real location or boundary in the data pack, so they are listed, not drawn:",
    },
    "attribution": {"zh": "数据来源与版权", "en": "Sources and attribution"},
    "load_boundaries": {"zh": "导入官方乡镇边界：", "en": "Load the official township boundaries:"},
    "features": {"zh": "个要素", "en": "features"},
    "with_geometry": {"zh": "有几何", "en": "with geometry"},
    "quality": {"zh": "质量", "en": "quality"},
    "basemap_off": {
        "zh": "离线模式：未加载在线底图（可通过 GEO_APP_TILES_URL 开启）。",
        "en": "Offline: no online basemap (opt in with GEO_APP_TILES_URL).",
    },
    "schematic_banner": {
        "zh": "注意：部分图层为示意数据或缺少几何，详见左侧“数据质量提示”。",
        "en": "Note: some layers are schematic or have no geometry; see 'Data quality notices'.",
    },
}


def current_lang() -> str:
    """Return the requested language: ``?lang=``, then the ``lang`` cookie, then zh."""
    lang = request.args.get("lang") or request.cookies.get("lang") or "zh"
    return lang if lang in LANGS else "zh"


def translator(lang: str):  # type: ignore[no-untyped-def]
    """Return ``t(key)`` for templates."""

    def t(key: str) -> str:
        entry = STRINGS.get(key)
        return entry[lang] if entry else key

    return t

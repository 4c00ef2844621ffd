"""Data import and drawing pages (/data). Filled in by the import feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("data_pages", __name__)

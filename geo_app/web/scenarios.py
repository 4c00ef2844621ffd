"""Scenario pages and API (/scenarios, /api/scenarios). Filled in by the scenarios feature."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("scenarios", __name__)

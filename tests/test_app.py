import ast
from pathlib import Path

from geo_app import create_app
from geo_app.config import build

ROOT = Path(__file__).resolve().parents[1]


def test_factory_config_switch(tmp_path):
    default = create_app({"INSTANCE": tmp_path / "a"})
    assert not default.testing
    assert default.config["TILES_URL"] is None  # offline by default
    testing = create_app({"TESTING": True, "INSTANCE": tmp_path / "b", "LAYER_LIMIT_MAX": 7})
    assert testing.testing and testing.config["LAYER_LIMIT_MAX"] == 7
    assert testing.instance_path == str((tmp_path / "b").resolve())


def test_env_overrides_defaults_and_dict_overrides_env(tmp_path):
    env = {"GEO_APP_DATA_DIR": str(tmp_path), "GEO_APP_TILES_URL": "http://tiles.local/{z}/{x}/{y}.png"}
    cfg = build(None, env)
    assert cfg["DATA_DIR"] == tmp_path and cfg["TILES_URL"].startswith("http://tiles.local")
    cfg = build({"DATA_DIR": ROOT / "data"}, env)
    assert cfg["DATA_DIR"] == ROOT / "data"


def test_secret_key_survives_restart(tmp_path):
    a = create_app({"INSTANCE": tmp_path})
    b = create_app({"INSTANCE": tmp_path})
    assert a.secret_key == b.secret_key and len(a.secret_key) >= 32


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_flask_under_analysis_or_network():
    files = [*ROOT.joinpath("geo_app/analysis").rglob("*.py"), *ROOT.joinpath("geo_app/network").rglob("*.py")]
    assert files
    for f in files:
        assert not {"flask", "werkzeug"} & _imports(f), f"{f} imports Flask"


def test_security_headers(client):
    r = client.get("/api/layers")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"

"""Login, sessions, API tokens, roles, user administration and the audit log (web side).

Flask-Login keeps the session; Flask-Limiter rate-limits the login form and the password change
per address, and the user store locks an account out per account and address after repeated
failures (:mod:`geo_app.storage.lockout`), answering 429 with ``Retry-After``; Flask-WTF protects
the forms against CSRF. Every write view is wrapped in :func:`require_role`. The session and the
token are checked against the user store on every request, so a disabled or deleted user, or a
changed password, ends them at once in every server process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from ..errors import AuthRequired, Forbidden, GeoAppError, ValidationError, status_for
from ..storage import ROLES, User, UserStore
from ..storage.lockout import LockoutPolicy
from .i18n import Message, current_lang, text
from .pages import page_context

bp = Blueprint("auth", __name__)


def _limit_key() -> str:
    """Rate-limit per client address, and per app (tests run several apps in one process)."""
    return f"{id(current_app._get_current_object())}:{get_remote_address()}"  # type: ignore[attr-defined]


limiter = Limiter(key_func=_limit_key, storage_uri="memory://", default_limits=[])
#: Endpoints that anyone may reach even when public reading is off.
OPEN_ENDPOINTS = {"auth.login", "auth.login_post", "static", "assets.vendor"}


class SessionUser(UserMixin):
    """Flask-Login wrapper; the id carries the session version so a password change ends sessions."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        """``"<id>:<session version>"``."""
        return f"{self.user.id}:{self.user.session_version}"

    @property
    def name(self) -> str:
        """User name."""
        return self.user.name

    @property
    def role(self) -> str:
        """Role name."""
        return self.user.role

    def can(self, needed: str) -> bool:
        """True when the role reaches ``needed`` and no password change is pending."""
        return self.user.can(needed) and not self.user.must_change


def users() -> UserStore:
    """The app's user store."""
    return current_app.extensions["geo_app"]["users"]


def lockout_policy() -> LockoutPolicy:
    """The app's login lock-out thresholds (``LOGIN_LOCKOUT_*``; defaults in :class:`LockoutPolicy`)."""
    cfg, d = current_app.config, LockoutPolicy()
    return LockoutPolicy(int(cfg.get("LOGIN_LOCKOUT_FAILURES", d.pair_failures)),
                         int(cfg.get("LOGIN_LOCKOUT_ACCOUNT_FAILURES", d.account_failures)),
                         float(cfg.get("LOGIN_LOCKOUT_WINDOW_S", d.window_s)))


def _locked_out(template: str, wait: float, **context: Any) -> Any:
    """The form again with the lock-out message: 429 with ``Retry-After`` (whole seconds)."""
    lang = current_lang()
    error = ValidationError(key="err_login_locked", params={"minutes": max(1, math.ceil(wait / 60))},
                            field="name")
    body = render_template(template, error=error.localized(lang) if template == "login.html" else error,
                           **context, **page_context(lang))
    return body, 429, {"Retry-After": str(max(1, math.ceil(wait)))}


def actor() -> str | None:
    """Name of the current user, or None."""
    return current_user.name if current_user.is_authenticated else None


def audit(action: str, target: str | None = None, **detail: Any) -> None:
    """Record a write in the audit log: who, when, what, from where."""
    users().audit(actor(), action, target, remote_addr=request.remote_addr, detail=detail)


def audit_record(action: str, target: str | None = None, **detail: Any) -> dict[str, Any]:
    """The audit entry of a data change, to be written as part of the change (``UserStore.audit_change``)."""
    return {"actor": actor(), "action": action, "target": target, "remote_addr": request.remote_addr,
            "detail": detail}


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.is_json or request.method not in ("GET", "HEAD")


def require_role(role: str) -> Callable:
    """Decorator: 401 for anonymous callers, 403 when the role is too low (pages redirect to login)."""

    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                if not _wants_json():
                    return redirect(url_for("auth.login", next=request.full_path))
                raise AuthRequired(key="err_auth_required", field="authorization")
            if current_user.user.must_change:
                raise Forbidden(key="err_must_change", field="password")
            if not current_user.can(role):
                raise Forbidden(key="err_role_needed", field="role", params={
                    "role": Message(f"val_role_{role}"), "current": Message(f"val_role_{current_user.role}")})
            return view(*args, **kwargs)

        wrapped.required_role = role  # type: ignore[attr-defined]
        return wrapped

    return deco


def init_auth(app: Flask) -> None:
    """Attach Flask-Login, the token loader, the limiter and the public-read gate."""
    manager = LoginManager(app)
    manager.session_protection = "basic"

    @manager.user_loader
    def _load(uid: str) -> SessionUser | None:
        try:
            user_id, version = (int(x) for x in uid.split(":"))
        except ValueError:
            return None
        user = users().by_id(user_id)
        return SessionUser(user) if user and user.session_version == version else None

    @manager.request_loader
    def _bearer(req: Any) -> SessionUser | None:
        header = req.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            user = users().user_for_token(header[7:].strip())
            return SessionUser(user) if user else None
        return None

    @manager.unauthorized_handler
    def _unauthorized() -> Any:
        raise AuthRequired(key="err_auth_required", field="authorization")

    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)  # 429 answers carry Retry-After
    limiter.init_app(app)

    @app.before_request
    def _public_read_gate() -> Any:
        if app.config.get("PUBLIC_READ", True) or request.endpoint in OPEN_ENDPOINTS:
            return None
        if current_user.is_authenticated:
            return None
        if _wants_json():
            raise AuthRequired(key="err_login_to_read", field="authorization")
        return redirect(url_for("auth.login", next=request.full_path))

    @app.context_processor
    def _user_context() -> dict[str, Any]:
        return {"current_user": current_user, "roles": ROLES}


def _safe_next(target: str | None) -> str:
    """Only local redirects after login: a path on this site, never ``//host``, a backslash or a scheme."""
    if not target or "\\" in target or any(ord(c) < 0x20 for c in target) or target.startswith("//"):
        return "/"  # browsers read "/\\host" and "/<TAB>/host" as "//host"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else "/"


@bp.get("/login")
def login() -> Any:
    """The login page."""
    lang = current_lang()
    return render_template("login.html", error=None, next=_safe_next(request.args.get("next")),
                           **page_context(lang))


@bp.post("/login")
@limiter.limit("10 per minute")
def login_post() -> Any:
    """Check the password; on success start a session (first login goes to the password change)."""
    lang = current_lang()
    name, addr, policy = request.form.get("name", ""), request.remote_addr, lockout_policy()
    wait = users().locked_for(name, addr, policy)
    if wait > 0:
        users().audit(name[:40] or None, "login_locked", remote_addr=addr)
        return _locked_out("login.html", wait, next=_safe_next(request.form.get("next")))
    user = users().authenticate(name, request.form.get("password", ""))
    if user is None:
        users().login_failed(name, addr, policy)
        users().audit(name[:40] or None, "login_failed", remote_addr=addr)
        return render_template("login.html", error=text("err_login_wrong", lang),
                               next=_safe_next(request.form.get("next")), **page_context(lang)), 401
    users().login_succeeded(name, addr)
    login_user(SessionUser(user))
    audit("login")
    if user.must_change:
        return redirect(url_for("auth.password"))
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    """End the session."""
    if current_user.is_authenticated:
        audit("logout")
    logout_user()
    return redirect("/")


def _live_tokens() -> list[dict[str, Any]]:
    return [tok for tok in users().tokens(current_user.name) if not tok["revoked_at"]]


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def password() -> Any:
    """Change one's password (forced after a one-time password)."""
    if not current_user.is_authenticated:
        if request.method == "POST":
            raise AuthRequired(key="err_login_to_change_password", field="authorization")
        return redirect(url_for("auth.login", next="/account/password"))
    error = None
    if request.method == "POST":
        wait = users().locked_for(current_user.name, request.remote_addr, lockout_policy())
        if wait > 0:
            return _locked_out("password.html", wait, tokens=_live_tokens())
        try:
            user = _change_password()
        except GeoAppError as exc:
            error = exc
        else:
            audit("password_change", user.name, kept_tokens=request.form.getlist("keep_tokens"))
            login_user(SessionUser(user))
            return redirect("/")
    status = 200 if error is None else status_for(error)
    return render_template("password.html", error=error, tokens=_live_tokens(),
                           **page_context(current_lang())), status


def _change_password() -> User:
    """Check the old password (a wrong one counts towards the lock-out) and set the new one.

    The user's API tokens are revoked, except those whose labels the form lists in ``keep_tokens``.
    """
    name, addr = current_user.name, request.remote_addr
    if users().authenticate(name, request.form.get("old", "")) is None:
        users().login_failed(name, addr, lockout_policy())
        raise ValidationError(key="err_old_password_wrong", field="old")
    if request.form.get("new") != request.form.get("confirm"):
        raise ValidationError(key="err_new_passwords_differ", field="confirm")
    users().login_succeeded(name, addr)
    return users().set_password(name, request.form.get("new", ""), keep_tokens=request.form.getlist("keep_tokens"))


@bp.route("/account", methods=["GET", "POST"])
@require_role("viewer")
def account() -> Any:
    """List, create and revoke one's API tokens."""
    lang = current_lang()
    new_token = None
    if request.method == "POST":
        if request.form.get("revoke"):
            raw = request.form["revoke"].strip()
            if not (raw.isascii() and raw.isdigit() and len(raw) < 19):  # int() would take fullwidth digits too
                raise ValidationError(key="err_revoke_id", field="revoke")
            token_id = int(raw)
            if users().revoke_token(current_user.name, token_id):
                audit("token_revoke", current_user.name, token_id=token_id)
        else:
            new_token = users().create_token(current_user.name, request.form.get("label", ""))
            audit("token_create", current_user.name)
    return render_template("account.html", tokens=users().tokens(current_user.name), new_token=new_token,
                           **page_context(lang))


@bp.route("/admin/users", methods=["GET", "POST"])
@require_role("admin")
def admin_users() -> Any:
    """Add users, change roles, disable, enable and delete users (admin)."""
    lang = current_lang()
    error = None
    if request.method == "POST":
        try:
            _admin_action(request.form.get("action") or "add", request.form.get("name", ""))
        except GeoAppError as exc:
            error = exc
    status = 200 if error is None else status_for(error)
    return render_template("admin_users.html", users=users().list(disabled_too=True), error=error,
                           **page_context(lang)), status


#: The ``action`` values of the ``/admin/users`` form (none means ``add``).
ADMIN_ACTIONS = ("add", "role", "disable", "enable", "delete")


def _admin_action(action: str, name: str) -> None:
    """Apply one ``/admin/users`` form action and audit it."""
    role = request.form.get("role", "")
    if action == "add":
        users().add(name, role, request.form.get("password", ""), must_change=True)
        audit("user_add", name, role=role)
    elif action == "role":
        users().set_role(name, role)
        audit("user_role", name, role=role)
    elif action in ("disable", "enable"):
        users().set_disabled(name, action == "disable")
        audit(f"user_{action}", name)
    elif action == "delete":
        users().delete(name)
        audit("user_delete", name)
    else:
        raise ValidationError(key="err_choice", params={"field": "action", "choices": list(ADMIN_ACTIONS),
                                                        "got": action[:40]}, field="action")


@bp.get("/admin/audit")
@require_role("admin")
def admin_audit() -> Any:
    """The audit log (admin); each entry's detail as a mapping, shown in the page language."""
    entries = [{**e, "detail": _detail(e.get("detail"))} for e in users().audit_log(500)]
    return render_template("audit.html", entries=entries, **page_context(current_lang()))


def _detail(raw: Any) -> Any:
    """An audit entry's stored JSON detail as a dict (as it is when it is not a JSON object)."""
    import json

    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return raw
    return value if isinstance(value, dict) else raw

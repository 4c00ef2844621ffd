"""Login, sessions, API tokens, roles, user administration and the audit log (web side).

Flask-Login keeps the session; Flask-Limiter rate-limits the login form; Flask-WTF
protects the forms against CSRF. Every write view is wrapped in :func:`require_role`.
"""

from __future__ import annotations

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
from .i18n import current_lang
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


def actor() -> str | None:
    """Name of the current user, or None."""
    return current_user.name if current_user.is_authenticated else None


def audit(action: str, target: str | None = None, **detail: Any) -> None:
    """Record a write in the audit log: who, when, what, from where."""
    users().audit(actor(), action, target, remote_addr=request.remote_addr, detail=detail)


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
                raise AuthRequired("log in or send Authorization: Bearer TOKEN", field="authorization")
            if current_user.user.must_change:
                raise Forbidden("change your one-time password first (/account/password)", field="password")
            if not current_user.can(role):
                raise Forbidden(f"this needs the {role} role; you are {current_user.role}", field="role")
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
        raise AuthRequired("log in or send Authorization: Bearer TOKEN", field="authorization")

    limiter.init_app(app)

    @app.before_request
    def _public_read_gate() -> Any:
        if app.config.get("PUBLIC_READ", True) or request.endpoint in OPEN_ENDPOINTS:
            return None
        if current_user.is_authenticated:
            return None
        if _wants_json():
            raise AuthRequired("this service requires a login to read (GEO_APP_PUBLIC_READ=false)",
                               field="authorization")
        return redirect(url_for("auth.login", next=request.full_path))

    @app.context_processor
    def _user_context() -> dict[str, Any]:
        return {"current_user": current_user, "roles": ROLES}


def _safe_next(target: str | None) -> str:
    """Only local redirects after login."""
    if not target:
        return "/"
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
    user = users().authenticate(request.form.get("name", ""), request.form.get("password", ""))
    if user is None:
        users().audit(request.form.get("name", "")[:40] or None, "login_failed", remote_addr=request.remote_addr)
        msg = "用户名或密码错误" if lang == "zh" else "wrong user name or password"
        return render_template("login.html", error=msg, next=_safe_next(request.form.get("next")),
                               **page_context(lang)), 401
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


@bp.route("/account/password", methods=["GET", "POST"])
def password() -> Any:
    """Change one's password (forced after a one-time password)."""
    if not current_user.is_authenticated:
        if request.method == "POST":
            raise AuthRequired("log in to change a password", field="authorization")
        return redirect(url_for("auth.login", next="/account/password"))
    lang = current_lang()
    error = None
    if request.method == "POST":
        try:
            if users().authenticate(current_user.name, request.form.get("old", "")) is None:
                raise ValidationError("old password is wrong", field="old")
            if request.form.get("new") != request.form.get("confirm"):
                raise ValidationError("the two new passwords differ", field="confirm")
            user = users().set_password(current_user.name, request.form.get("new", ""))
        except GeoAppError as exc:
            error = exc
        else:
            audit("password_change", user.name)
            login_user(SessionUser(user))
            return redirect("/")
    status = 200 if error is None else status_for(error)
    return render_template("password.html", error=error, **page_context(lang)), status


@bp.route("/account", methods=["GET", "POST"])
@require_role("viewer")
def account() -> Any:
    """List, create and revoke one's API tokens."""
    lang = current_lang()
    new_token = None
    if request.method == "POST":
        if request.form.get("revoke"):
            try:
                token_id = int(request.form["revoke"])
            except ValueError:
                raise ValidationError("revoke must be a token id", field="revoke") from None
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
    """Add users and change roles (admin)."""
    lang = current_lang()
    error = None
    if request.method == "POST":
        try:
            name = request.form.get("name", "")
            if request.form.get("action") == "role":
                users().set_role(name, request.form.get("role", ""))
                audit("user_role", name, role=request.form.get("role"))
            else:
                users().add(name, request.form.get("role", ""), request.form.get("password", ""), must_change=True)
                audit("user_add", name, role=request.form.get("role"))
        except GeoAppError as exc:
            error = exc
    status = 200 if error is None else status_for(error)
    return render_template("admin_users.html", users=users().list(), error=error, **page_context(lang)), status


@bp.get("/admin/audit")
@require_role("admin")
def admin_audit() -> Any:
    """The audit log (admin)."""
    return render_template("audit.html", entries=users().audit_log(500), **page_context(current_lang()))

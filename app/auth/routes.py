"""Signing in and out, the role check every view uses, and the commands that make keys."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import available_timezones

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from app.auth import service, throttle
from app.auth.access import role_required, signed_in_actor
from app.auth.forms import SignInForm, TimeZoneForm
from app.auth.models import User
from app.extensions import login_manager
from app.validation import Rejected

bp = Blueprint("auth", __name__)

TIME_ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
TIME_ZONES.append("UTC")

login_manager.login_view = "auth.sign_in"
login_manager.login_message = "Please sign in to continue."
login_manager.login_message_category = "info"


@login_manager.unauthorized_handler
def signed_out():
    """Back to sign in; for htmx, the whole page goes there, not the part being updated."""
    back = request.headers.get("HX-Current-URL") if request.htmx else request.full_path
    target = url_for("auth.sign_in", next=_path_of(back))
    if request.htmx:
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    flash(login_manager.login_message, login_manager.login_message_category)
    return redirect(target)


def _path_of(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return path if path.startswith("/") and not path.startswith("//") else None


@login_manager.user_loader
def load_user(sign_in_token: str) -> User | None:
    """The cookie names a sign-in kept on the server, not a user: see UserSignIn."""
    idle = timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    return service.signed_in_user(sign_in_token, idle)


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("web.home")


# The browser's device cookie (app/auth/throttle.py): set at each successful sign-in, sent
# back to the sign-in page only.
DEVICE_COOKIE = "orderly_device"
DEVICE_COOKIE_DAYS = 365


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = SignInForm()
    error, status, headers = None, 200, {}
    if form.validate_on_submit():
        origin = throttle.Origin(request.remote_addr or "", request.cookies.get(DEVICE_COOKIE))
        try:
            user = service.authenticate(form.email.data, form.password.data, origin)
        except throttle.TooManyAttempts as refused:
            error, status = refused.problems[0].message, 429
            headers["Retry-After"] = str(refused.retry_after)
        else:
            if user is not None:
                login_user(user)
                response = redirect(_safe_next(request.args.get("next")), code=303)
                _keep_device(response, user.new_device_token)
                return response
            error, status = "That email and password do not match an active account.", 401
    page = render_template("auth/sign_in.html", form=form, error=error)
    return page, status, headers


def _keep_device(response, token: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        token,
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path=url_for("auth.sign_in"),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Strict",
    )


@bp.post("/sign-out")
@login_required
def sign_out():
    service.sign_out(current_user.sign_in_record.id)
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"), code=303)


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    """Ends every sign-in of the user: other browsers, other devices, and this one."""
    service.sign_out_everywhere(current_user.id, signed_in_actor())
    logout_user()
    flash("You are signed out everywhere.", "info")
    return redirect(url_for("auth.sign_in"), code=303)


@bp.route("/account/time-zone", methods=["GET", "POST"])
@role_required("coordinator", "fulfillment")
def time_zone():
    """The time zone dates are shown and filtered in. The page's script sends the browser's
    once (``browser=1``, answered 204), which never overrides a zone chosen here."""
    form = TimeZoneForm(time_zone=current_user.time_zone or "")
    form.time_zone.choices = [("", "Choose…")] + [(z, z.replace("_", " ")) for z in TIME_ZONES]
    status = 200
    if form.validate_on_submit():
        browser = request.form.get("browser") == "1"
        try:
            service.set_time_zone(current_user.id, form.time_zone.data, only_if_unset=browser)
        except Rejected as rejected:
            form.time_zone.errors = [p.message for p in rejected.problems]
            status = 422
        else:
            if browser:
                return "", 204
            flash(f"Dates are shown in {form.time_zone.data.replace('_', ' ')} time.", "success")
            return redirect(url_for("auth.time_zone"), code=303)
    elif request.method == "POST":
        status = 422
    return render_template("auth/time_zone.html", form=form), status

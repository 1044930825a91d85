"""What every page shares: the home redirect, the health check, error pages and headers."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from app.api.errors import ApiError, error_response, http_error_response, is_api_request
from app.extensions import db

bp = Blueprint("web", __name__)

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


@bp.get("/")
@login_required
def home():
    if current_user.has_role("coordinator"):
        return redirect(url_for("orders.new_order"))
    return redirect(url_for("orders.list_orders"))


@bp.get("/health")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


def register_error_pages(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        return error_response(error.status, error.code, error.message, error.field)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            return http_error_response(error)
        return render_template("errors/error.html", error=error), error.code

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Logged without the request body or arguments: they may hold patient data.
        db.session.rollback()
        busy = False
        if isinstance(error, DBAPIError):
            # The driver's own message can quote values (PostgreSQL's DETAIL line): log the
            # kind of error and the constraint only.
            constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
            app.logger.error(
                "Database error on %s %s: %s %s",
                request.method,
                request.path,
                type(error.orig).__name__,
                constraint or "",
            )
            busy = isinstance(error, OperationalError) and "locked" in str(error.orig)
        else:
            app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        status = 503 if busy else 500
        if is_api_request():
            if busy:
                return error_response(503, "busy", "The database is busy: try again in a moment.")
            return error_response(500, "internal_error", "Something went wrong on our side.")
        return render_template("errors/error.html", error=None, busy=busy), status


NUL_MESSAGE = "Text cannot contain the NUL character."


def register_input_guard(app) -> None:
    @app.before_request
    def refuse_nul_characters():
        """PostgreSQL cannot store a NUL character in text: refuse it at the door, for every
        query string and form (the API's JSON bodies are checked where they are parsed)."""
        # Every value of a repeated name (tick boxes), not only the first.
        values = [v for _, vs in request.args.lists() for v in vs]
        if request.method == "POST" and not is_api_request():
            values += [v for _, vs in request.form.lists() for v in vs]
        if any("\x00" in value for value in values):
            if is_api_request():
                raise ApiError(400, "invalid_parameter", NUL_MESSAGE)
            abort(400, NUL_MESSAGE)


def register_response_headers(app) -> None:
    @app.after_request
    def headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if not request.path.startswith("/static/"):
            # Pages and API answers may hold patient data: keep them out of every cache.
            response.headers["Cache-Control"] = "no-store"
            response.vary.add("HX-Request")
        return response

"""What every page shares: the home redirect, the health check, error pages and headers."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import (
    Blueprint,
    Flask,
    abort,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_required
from sqlalchemy import text
from sqlalchemy.exc import (
    DBAPIError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from app.api.errors import ApiError, error_response, http_error_response, is_api_request
from app.db.reading import end_own_reading
from app.extensions import db
from app.validation import MAX_DB_ID

bp = Blueprint("web", __name__)


def _digits_at_most(limit: int) -> str:
    """A regular expression for the whole numbers 0..limit (leading zeros allowed), in ASCII
    digits only: ``\\d`` also matches "١" and "１", which ``int`` reads as 1."""
    digits = str(limit)
    choices = [rf"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            choices.append(rf"{digits[:i]}[0-{int(digit) - 1}][0-9]{{{len(digits) - i - 1}}}")
    choices.append(digits)
    return "0*(?:" + "|".join(choices) + ")"


class RecordIdConverter(IntegerConverter):
    """``<int:...>`` in every URL: a number no id column can hold (above 2^31 - 1), or one
    written in another script's digits, matches no route, so it answers 404 (instead of
    overflowing the database's integer, or reading "١" as record 1). The bound is
    in the pattern itself: werkzeug answers 405, not 404, when a converter refuses a value on
    a path that other methods' rules share."""

    regex = _digits_at_most(MAX_DB_ID)

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_DB_ID)
        super().__init__(map, *args, **kwargs)


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
    if current_user.role == "fulfillment":
        return redirect(url_for("orders.next_order_page"))
    return redirect(url_for("orders.list_orders"))


@bp.get("/health")
def health():
    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


# How long a client is asked to wait before trying again when the database is away.
RETRY_AFTER_SECONDS = 30


def database_unavailable(error: Exception) -> bool:
    """The database cannot be reached (refused, gone, out of connections): not a bug."""
    if isinstance(error, SQLAlchemyTimeoutError):
        return True
    if isinstance(error, DBAPIError) and not _busy(error):
        return isinstance(error, (OperationalError, InterfaceError)) or error.connection_invalidated
    return False


def _busy(error: Exception) -> bool:
    return isinstance(error, OperationalError) and "locked" in str(error.orig)


def _unavailable_response():
    """A 503 that needs no database: JSON for the API and /health, a page of its own (not
    base.html, which asks who is signed in) for everything else."""
    if is_api_request() or request.path == url_for("web.health"):
        response = error_response(
            503, "database_unavailable", "The database cannot be reached: try again shortly."
        )
    else:
        # The page never asks who is signed in (current_user is loaded only when a template
        # asks for it: app.templating), so it renders without the database.
        response = make_response(render_template("errors/unavailable.html"), 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _rollback_quietly() -> None:
    # The session is rolled back, not closed: the error page still shows who is signed in.
    for end in (db.session.rollback, end_own_reading):
        try:
            end()
        except SQLAlchemyError:
            pass  # the connection is gone; the pool drops it


def _with_headers(response, error: HTTPException):
    """The error's own headers (Allow on 405, Retry-After on 429, ...), and Connection:
    close on 413: the server closes without reading the rest of the body, so it says so."""
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    if error.code == 413:
        response.headers["Connection"] = "close"
    return response


def register_error_pages(app) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        response = error_response(error.status, error.code, error.message, error.field)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if is_api_request():
            return _with_headers(http_error_response(error), error)
        try:
            page = render_template("errors/error.html", error=error)
        except SQLAlchemyError as db_error:
            # The page asks who is signed in, which needs the database.
            if not database_unavailable(db_error):
                raise
            _rollback_quietly()
            return _unavailable_response()
        return _with_headers(make_response(page, error.code), error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        # Logged without the request body or arguments: they may hold patient data.
        _rollback_quietly()
        if database_unavailable(error):
            app.logger.error(
                "Database unavailable on %s %s: %s",
                request.method,
                request.path,
                type(getattr(error, "orig", error)).__name__,
            )
            return _unavailable_response()
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
            busy = _busy(error)
        else:
            app.logger.exception("Unhandled error on %s %s", request.method, request.path)
        status = 503 if busy else 500
        if is_api_request():
            if busy:
                return error_response(503, "busy", "The database is busy: try again in a moment.")
            return error_response(500, "internal_error", "Something went wrong on our side.")
        try:
            return render_template("errors/error.html", error=None, busy=busy), status
        except SQLAlchemyError:
            _rollback_quietly()
            return _unavailable_response()


NUL_MESSAGE = "Text cannot contain the NUL character."
NOT_UTF8_MESSAGE = (
    "The form sent text that is not valid UTF-8, so it cannot be read as it was typed. "
    "Nothing was changed: go back, check the text and send it again."
)


def _form_is_utf8() -> bool:
    """Whether a web form's text is valid UTF-8. Werkzeug does not say: it keeps an invalid
    escape ("Jos%E9") as those characters, empties a form whose body holds an invalid byte,
    and turns one in a multipart form into U+FFFD ("Jos�")."""
    if request.mimetype == "application/x-www-form-urlencoded":
        raw = request.get_data(cache=True)  # the form is then parsed from this same copy
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return False
    elif request.mimetype == "multipart/form-data":
        # Files are not text here (an import names its own encoding); text fields are.
        return not any("\ufffd" in v for _, vs in request.form.lists() for v in vs)
    return True


def register_input_guard(app) -> None:
    """Registered before CSRF protection, which reads the form: the raw body is still there."""

    @app.before_request
    def refuse_text_no_one_typed():
        """PostgreSQL cannot store a NUL character in text: refuse it at the door, for every
        query string and form (the API's JSON bodies are checked where they are parsed), and
        refuse a web form that is not UTF-8 (the API refuses such JSON)."""
        # Every value of a repeated name (tick boxes), not only the first.
        values = [v for _, vs in request.args.lists() for v in vs]
        if request.method == "POST" and not is_api_request():
            if not _form_is_utf8():
                abort(400, NOT_UTF8_MESSAGE)
            values += [v for _, vs in request.form.lists() for v in vs]
        if any("\x00" in value for value in values):
            if is_api_request():
                raise ApiError(400, "invalid_parameter", NUL_MESSAGE)
            abort(400, NUL_MESSAGE)


class WebSessions(SecureCookieSessionInterface):
    """The signed session cookie, for the web's pages only. An API request authenticates by
    its key and never by a cookie: it gets an empty session that cannot be written, whatever
    cookie it sends, and its answer never sets one (nor says it varies by one). Opening and
    saving the cookie session cost about 3% of an order read's CPU."""

    def open_session(self, app: Flask, asked):
        if is_api_request(asked):
            return self.make_null_session(app)
        return super().open_session(app, asked)

    def save_session(self, app: Flask, session, response) -> None:
        if not self.is_null_session(session):
            super().save_session(app, session, response)


# On every answer, unless the view set its own.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)


def register_response_headers(app) -> None:
    @app.after_request
    def headers(response):
        present = response.headers
        for name, value in SECURITY_HEADERS:
            if name not in present:
                present.add(name, value)
        if not request.path.startswith("/static/"):
            # Pages and API answers may hold patient data: keep them out of every cache.
            present["Cache-Control"] = "no-store"
            if "Vary" in present:
                response.vary.add("HX-Request")
            else:  # most answers: no header to parse and write back
                present.add("Vary", "HX-Request")
        return response

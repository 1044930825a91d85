"""Every API error is JSON: {"error": {"code", "message", "field"}} with a stable code."""

from __future__ import annotations

from flask import jsonify, request
from werkzeug.exceptions import HTTPException

from app.validation import CONFLICT, FORBIDDEN, INVALID, NOT_FOUND, Problem, Rejected

# Codes for the HTTP errors Flask raises before a view runs.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
}


# An answer lists this many problems at most (a request of 10,000 bad lines gets 100).
MAX_DETAILS = 100


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_response(status: int, code: str, message: str, field: str | None = None, details=None):
    body = {"error": {"code": code, "message": message, "field": field}}
    if details:
        body["error"]["details"] = details
    response = jsonify(body)
    response.status_code = status
    return response


# The status code the API answers a refusal with, by its kind (validation.Rejected.kind).
REFUSAL_STATUS = {INVALID: 400, CONFLICT: 409, FORBIDDEN: 403, NOT_FOUND: 404}


def refusal_error(refused: Rejected) -> ApiError:
    """A refused change, answered by its first problem and its kind's status code."""
    return ApiError(REFUSAL_STATUS[refused.kind], refused.code, refused.message, refused.field)


def problems_response(problems: list[Problem]):
    """The first problem heads the error; all of them are listed in ``details``."""
    first = problems[0]
    details = [
        {"code": p.code, "message": p.message, "field": p.field} for p in problems[:MAX_DETAILS]
    ]
    return error_response(400, first.code, first.message, first.field, details)


def is_api_request(asked=None) -> bool:
    """Whether the request (``asked``, or the one being answered) is for the API."""
    return (asked or request).path.startswith("/api/")


def http_error_response(error: HTTPException):
    status = error.code or 500
    code = HTTP_CODES.get(status, "http_error")
    messages = {
        404: "There is nothing at this address.",
        405: f"{request.method} is not allowed here.",
        413: "The request body is too large.",
    }
    return error_response(status, code, messages.get(status, error.description or code))

"""JSON error responses for the API."""

from flask import jsonify

from app.errors import error_body


def api_error(status: int, code: str, message: str, details=None):
    response = jsonify(error_body(code, message, details))
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response

"""The API blueprint class: request bodies declared as JSON must arrive as JSON.

webargs quietly treats a body sent with another content type as absent, so a client
posting a form or a CSV by mistake would be told that every field is missing. The
API says what is actually wrong instead: 415, and the OpenAPI document lists that
answer for every operation that takes a JSON body.
"""

from __future__ import annotations

from flask import abort
from flask_smorest import Blueprint
from webargs.core import missing
from webargs.flaskparser import FlaskParser, is_json_request

UNSUPPORTED_MEDIA_TYPE = 415


class JsonBodyParser(FlaskParser):
    """webargs parser refusing a non-JSON body where a JSON one is expected."""

    def load_json(self, req, schema):
        if not is_json_request(req):
            abort(
                UNSUPPORTED_MEDIA_TYPE,
                "Send the request body as JSON, with the header Content-Type: application/json.",
            )
        return super().load_json(req, schema)

    def load_json_or_form(self, req, schema):
        # Either is fine here: fall back to the form without insisting on JSON.
        data = super().load_json(req, schema)
        return data if data is not missing else self.load_form(req, schema)


class PortalBlueprint(Blueprint):
    """flask-smorest blueprint using JsonBodyParser, documenting its 415 answer."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def arguments(self, schema, *, location="json", **kwargs):
        decorate = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorate

        documented = self.alt_response(UNSUPPORTED_MEDIA_TYPE, response="UNSUPPORTED_MEDIA_TYPE")

        def decorator(func):
            return documented(decorate(func))

        return decorator

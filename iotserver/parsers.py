"""Request body parsers: DRF's JSON parser, with nesting that blows the stack answered 400."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """``JSONParser`` that turns ``RecursionError`` (``[`` x 100,000) into a 400.

    The standard library decodes nested arrays and objects recursively; DRF catches only
    ``ValueError``, so a deeply nested body escaped as a 500.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None

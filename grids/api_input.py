"""What the API takes in, bounded: page sizes and positions, JSON bodies, ids in a list.

Every list endpoint pages through the classes below (DEFAULT_PAGINATION_CLASS, or a
subclass), and every JSON body goes through `BoundedJSONParser` (DEFAULT_PARSER_CLASSES).
DRF's own classes fall back to the default page size on a bad number and pass any number
on to the database: `?limit=99999999999999999999` overflowed SQLite's 64-bit integers (a
500) and a large limit read a whole table in one response. Here a page size above the cap
is cut to the cap, and a number that is not a whole number, is below its minimum or does
not fit in 64 bits answers 400 naming the parameter.

A JSON body nested a few thousand levels deep made the parser recurse until Python gave up
(a 500), and a body of any size was read whole into memory. Bodies deeper than
`API_MAX_JSON_DEPTH` or larger than `API_MAX_JSON_BYTES` answer 400 before they are parsed.
Photos come as multipart, whose size Django's upload settings already govern.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re

from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import CursorPagination, LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

# The largest integer a database column (bigint, SQLite's INTEGER) holds: a page position or
# an id past it can only overflow the query.
MAX_DB_INT = 2**63 - 1


def max_page_size() -> int:
    return settings.API_MAX_PAGE_SIZE


def whole_number(
    request, name: str, *, minimum: int, maximum: int | None = None, default: int | None = None
) -> int | None:
    """The query parameter `name` as a whole number of at least `minimum`, cut to `maximum`;
    `default` when it is absent or empty. Anything else is a 400 naming the parameter."""
    raw = request.query_params.get(name, "").strip()
    if not raw:
        return default
    # isdigit() alone takes other scripts' digits and superscripts, which int() refuses.
    digits = raw[1:] if raw[0] in "+-" else raw
    if not (digits.isascii() and digits.isdigit()):
        raise ValidationError({name: [_("Give a whole number.")]})
    value = int(raw)
    if value < minimum:
        raise ValidationError({name: [_("Give a number of at least %(n)s.") % {"n": minimum}]})
    if value > MAX_DB_INT:
        raise ValidationError({name: [_("This number is too large.")]})
    if maximum is not None:
        value = min(value, maximum)
    return value


class LimitOffsetPages(LimitOffsetPagination):
    """`limit` and `offset`, or `page_size` and `page` (page 1 is the first), whichever the
    client knows; `limit` or `page_size` above the cap is cut to the cap."""

    page_query_param = "page"
    page_size_query_param = "page_size"

    def get_limit(self, request):
        default = self.default_limit
        size = whole_number(request, self.page_size_query_param, minimum=1, maximum=max_page_size())
        limit = whole_number(request, self.limit_query_param, minimum=1, maximum=max_page_size())
        if limit is not None:
            return limit
        if size is not None:
            return size
        return min(default, max_page_size()) if default else default

    def get_offset(self, request):
        offset = whole_number(request, self.offset_query_param, minimum=0)
        page = whole_number(request, self.page_query_param, minimum=1)
        if offset is not None:
            return offset
        if page is None:
            return 0
        offset = (page - 1) * self.limit
        if offset > MAX_DB_INT:
            raise ValidationError({self.page_query_param: [_("This number is too large.")]})
        return offset

    def get_schema_operation_parameters(self, view):
        cap = max_page_size()
        described = {
            self.limit_query_param: (
                _("Number of results to return per page (at most %(n)s).") % {"n": cap},
                {"type": "integer", "minimum": 1, "maximum": cap},
            ),
            self.offset_query_param: (
                _("The initial index from which to return the results."),
                {"type": "integer", "minimum": 0, "maximum": MAX_DB_INT},
            ),
            self.page_size_query_param: (
                _("Another name for limit."),
                {"type": "integer", "minimum": 1, "maximum": cap},
            ),
            self.page_query_param: (
                _("A page number instead of an offset (1 is the first page)."),
                {"type": "integer", "minimum": 1, "maximum": MAX_DB_INT},
            ),
        }
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": str(description),
                "schema": schema,
            }
            for name, (description, schema) in described.items()
        ]


class CursorPages(CursorPagination):
    """Cursor pages for tables that grow without end (cases): `page_size` up to this class's
    `max_page_size` (never above the API's cap); a bad cursor is a 404, as in DRF."""

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        cap = min(self.max_page_size, max_page_size())
        return whole_number(
            request,
            self.page_size_query_param,
            minimum=1,
            maximum=cap,
            default=min(self.page_size, cap),
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        cap = min(self.max_page_size, max_page_size())
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": cap}
        return parameters


class IdField(serializers.IntegerField):
    """A row's id: a positive number that fits the database (a larger one overflowed
    SQLite's integers in an `id IN (...)` filter, which Django does not guard)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_DB_INT)
        super().__init__(**kwargs)


# --- JSON bodies -------------------------------------------------------------------------------

# A string runs to its closing quote, or to the end of the text when it never closes (with a
# lone backslash last). Every `"` therefore starts a match that succeeds without backtracking,
# so one pass is linear. A pattern that needed the closing quote failed from every `"` of an
# unclosed string and rescanned to the end each time: forty `[`, a `"`, then `\"` over and
# over took quadratic time (24 KB, 2 s; the 1 MiB a body may carry, about an hour). The lone
# backslash matters: without `\\?` a text ending in one failed from every `"` again.
_STRING = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether the JSON text `text` nests arrays and objects deeper than `limit`, found
    without parsing it (parsing is what recursed). Brackets inside strings do not count."""
    opening = text.count("[") + text.count("{")
    if opening <= limit:
        return False  # the common case: too few brackets to nest that deep
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(itertools.accumulate(_STEP[c] for c in brackets), default=0) > limit


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing a body larger than API_MAX_JSON_BYTES or nested deeper
    than API_MAX_JSON_DEPTH with a 400 before it is parsed."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        max_bytes = settings.API_MAX_JSON_BYTES
        max_depth = settings.API_MAX_JSON_DEPTH
        # One byte past the limit tells a body at the limit from a larger one.
        raw = stream.read(max_bytes + 1) if stream is not None else b""
        if len(raw) > max_bytes:
            raise ParseError(_("The JSON body is larger than %(n)s bytes.") % {"n": max_bytes})
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(_("The JSON body is not valid %(enc)s.") % {"enc": encoding}) from exc
        if json_depth_exceeds(text, max_depth):
            raise ParseError(
                _("The JSON body is nested deeper than %(n)s levels.") % {"n": max_depth}
            )
        parse_constant = strict_constant if api_settings.STRICT_JSON else None
        try:
            return json.loads(text, parse_constant=parse_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError(_("JSON parse error - %(error)s") % {"error": exc}) from exc


def db_ids(values) -> list[int]:
    """The ids among posted form values (`request.POST.getlist(...)`): whole numbers written
    in ASCII digits that fit the database; anything else is left out, as a row that is not
    there would be."""
    return [
        int(raw) for raw in values if raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_DB_INT
    ]

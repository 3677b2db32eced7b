"""Small conversions at the protobuf edge: timestamps, page tokens, the shared vocabulary's enums,
run progress, JSON objects as Structs."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import math
import re
import secrets
import struct
import time
from enum import StrEnum
from typing import TypeVar

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from omp.v1 import common_pb2 as pb
from omp_services.common.errors import InvalidArgument

E = TypeVar("E", bound=StrEnum)

#: the fields of a progress report, as the proto declares them (the one list of them)
PROGRESS_FIELDS: tuple[str, ...] = tuple(f.name for f in pb.RunProgress.DESCRIPTOR.fields)


def ts(seconds: float | None) -> Timestamp | None:
    if seconds is None:
        return None
    return set_ts(Timestamp(), seconds)


def set_ts(field: Timestamp, seconds: float) -> Timestamp:
    """Fill a Timestamp (a message's own field, or a new one) from epoch seconds, to the nanosecond.
    What Timestamp.FromNanoseconds does (nanos in [0, 1e9) also before 1970) without its Python
    range check: 0.8 us against 1.2 us, and a page of 50 campaigns has 100 of them."""
    field.seconds, field.nanos = divmod(round(seconds * 1e9), 1_000_000_000)
    return field


#: a page position past this is no position this server gives (and would overflow a 64-bit column)
MAX_POSITION = 2**53


#: page tokens are signed with a key of this process: a token is good for the server that gave
#: it, until it restarts, for PAGE_TOKEN_TTL_S
_PAGE_KEY = secrets.token_bytes(32)
PAGE_TOKEN_TTL_S = 24 * 3600


def _page_mac(request, payload: bytes) -> bytes:
    """The token's signature over the request's filter (its fields but the page's own), so that
    a token is good only for the listing that gave it."""
    query = type(request)()
    query.CopyFrom(request)
    query.ClearField("page_token")
    query.ClearField("page_size")
    signed = request.DESCRIPTOR.full_name.encode() + b"\0" + query.SerializeToString(deterministic=True) + payload
    return hmac.new(_PAGE_KEY, signed, hashlib.sha256).digest()[:16]


def page(request, default: int = 50, maximum: int = 1000) -> tuple[int, int]:
    """(position, limit) of a list request (its ``page_size`` and opaque ``page_token``). A token
    this server did not give for this very listing (forged, edited, of another filter or method,
    older than a day or a restart) is INVALID_ARGUMENT."""
    if request.page_size < 0:
        raise InvalidArgument(f"page_size must be >= 0, got {request.page_size}")
    limit = min(request.page_size or default, maximum)
    tok = request.page_token
    if not tok:
        return 0, limit
    bad = InvalidArgument(f"page_token is not a token this server gave for this listing (or it expired), "
                          f"got {tok[:100]!r}", field="page_token")
    if len(tok) != 43:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(tok + "=")
    except ValueError:
        raise bad from None
    payload, mac = raw[:16], raw[16:]
    if len(raw) != 32 or not hmac.compare_digest(mac, _page_mac(request, payload)):
        raise bad
    position, expires = struct.unpack(">QQ", payload)
    if expires < time.time() or position > MAX_POSITION:
        raise bad
    return position, limit


#: the longest text a client may set in a field, by kind (a bound at the edge: every text a client
#: sends ends up in a row, a log line or an answer to someone else)
REASON_CHARS = 2000
ERROR_CHARS = 10_000
ID_CHARS = 128


def bounded(value: str, field: str, maximum: int) -> str:
    """``value`` if it is at most ``maximum`` characters, else INVALID_ARGUMENT naming ``field``."""
    if len(value) > maximum:
        raise InvalidArgument(f"{field} must be at most {maximum} characters, got {len(value)}")
    return value


def actor(request, context) -> str:
    """Who made a change, for the trail: the authenticated principal, and the name the client
    claims in ``request.actor`` only as on whose behalf (``alice for nightly-job``)."""
    return on_behalf(context, bounded(request.actor, "actor", 200))


def on_behalf(context, claimed: str, maximum: int = 120) -> str:
    """The call's principal, ``for`` the name claimed when it is another."""
    claimed, principal = claimed.strip(), context.principal.name
    return principal if not claimed or claimed == principal else f"{principal} for {claimed[:maximum]}"


def token(request, position: int) -> str:
    """The page token of ``position`` in the listing ``request`` asks for."""
    payload = struct.pack(">QQ", position, int(time.time()) + PAGE_TOKEN_TTL_S)
    return base64.urlsafe_b64encode(payload + _page_mac(request, payload)).decode().rstrip("=")


def next_token(request, offset: int, limit: int, total: int) -> str:
    return token(request, offset + limit) if offset + limit < total else ""


# ------------------------------------------------------------------------------ vocabulary
@functools.lru_cache(maxsize=None)
def _prefix(proto_enum) -> str:
    """``RunStatus`` -> ``RUN_STATUS_``: the proto style guide's value prefix."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", proto_enum.DESCRIPTOR.name).upper() + "_"


@functools.lru_cache(maxsize=None, typed=True)      # typed: a word and the plain string equal to it differ
def _to_pb(proto_enum, value: StrEnum) -> int:
    return proto_enum.Value(_prefix(proto_enum) + value.name)


def enum_pb(proto_enum, value: StrEnum | str, vocabulary: type[E] | None = None) -> int:
    """The proto enum's number for a vocabulary word (``pb.RunStatus``, ``RunStatus.FAILED``); a
    plain string needs its ``vocabulary`` to say what it is."""
    if vocabulary is not None:
        value = vocabulary(value)
    elif not isinstance(value, StrEnum):
        raise TypeError(f"enum_pb needs a vocabulary word or a vocabulary, got {value!r}")
    return _to_pb(proto_enum, value)


def enum_from_pb(proto_enum, number: int, vocabulary: type[E], field: str, *, allowed=None) -> E:
    """The vocabulary word for a number a client sent; UNSPECIFIED, an unknown number or one
    outside ``allowed`` is INVALID_ARGUMENT naming ``field``."""
    choices = tuple(allowed or vocabulary)
    for word in choices:
        if _to_pb(proto_enum, word) == number:
            return word
    names = [_prefix(proto_enum) + w.name for w in choices]
    raise InvalidArgument(f"{field} must be one of {names}, got {number}")


def progress_pb(progress: dict) -> pb.RunProgress:
    return pb.RunProgress(**{k: progress[k] for k in PROGRESS_FIELDS if k in progress})


def progress_dict(msg: pb.RunProgress) -> dict:
    return {k: getattr(msg, k) for k in PROGRESS_FIELDS}


#: the largest integer a double holds exactly; a Struct's numbers are doubles
EXACT_INT = 2 ** 53


def struct_pb(doc: dict, out: Struct | None = None) -> Struct:
    """A JSON object as a ``google.protobuf.Struct``, which every client shows as JSON (a string of
    JSON or bytes shows as a string or base64). A number that is not finite becomes null, as JSON
    has no NaN; an integer a double cannot hold exactly (a seed may be up to 2^63) travels as its
    decimal string, as proto3's JSON mapping does for int64."""
    out = Struct() if out is None else out
    out.update(_finite(doc))
    return out


def struct_dict(msg: Struct) -> dict:
    """A Struct back as the JSON object it carries. Struct holds every number as a double: the
    whole ones come back as ints, as ``json.loads`` reads them from a file (a priority of 10, not
    10.0)."""
    return {k: _value(v) for k, v in msg.fields.items()}


def _finite(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > EXACT_INT:
        return str(v)
    if isinstance(v, dict):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _value(v):
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        n = v.number_value
        return int(n) if n.is_integer() and abs(n) <= EXACT_INT else n
    if kind == "string_value":
        return v.string_value
    if kind == "bool_value":
        return v.bool_value
    if kind == "struct_value":
        return struct_dict(v.struct_value)
    if kind == "list_value":
        return [_value(x) for x in v.list_value.values]
    return None

"""How ``omp`` prints. For a person: rich tables and lines, wrapped to a terminal's width, and never
wrapped in a pipe (an id cut in two is no id). For a script (``--json``): one JSON document, a
result object on success and ``{"error": {"code": ..., "message": ...}}`` on failure, for every
command; a list is ``{"items": [...], "next_page_token": ...}``. Streams (``events --follow``,
``runs watch``) print one JSON object per line."""
from __future__ import annotations

import json
import sys

from google.protobuf import json_format

from omp_services.common.convert import struct_dict

#: the exit codes of ``omp`` and the status each stands for in a JSON error
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_DENIED = 0, 1, 2, 3, 4, 5
CODES = {EXIT_FAILED: "FAILED", EXIT_BAD_INPUT: "INVALID_ARGUMENT", EXIT_UNREACHABLE: "UNAVAILABLE",
         EXIT_REFUSED: "FAILED_PRECONDITION", EXIT_DENIED: "PERMISSION_DENIED"}
#: a width no line reaches: what a console writing to a pipe or a file is given
UNBOUNDED = 1_000_000


def console(stderr: bool = False):
    from rich.console import Console
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(file=stream, highlight=False)
    return Console(file=stream, highlight=False, width=UNBOUNDED, soft_wrap=True)


def message_dict(msg) -> dict:
    """A message as JSON; its Struct fields (an event's detail, a change's before and after) as the
    documents they carry, integers as integers (MessageToDict would print every number as a float)."""
    out = json_format.MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    for f in msg.DESCRIPTOR.fields:
        if f.message_type is not None and f.message_type.full_name == "google.protobuf.Struct" and \
                not f.is_repeated and msg.HasField(f.name):
            out[f.name] = struct_dict(getattr(msg, f.name))
    return out


def emit(doc) -> None:
    """One JSON document on stdout."""
    print(json.dumps(doc), flush=True)


def items(things: list, next_page_token: str = "") -> dict:
    return {"items": things, "next_page_token": next_page_token}


def error(message: str, exit_code: int, as_json: bool, code: str | None = None) -> int:
    """Say what went wrong (``code``: a gRPC status name when a service said it) and return
    ``exit_code``."""
    if as_json:
        emit({"error": {"code": code or CODES.get(exit_code, "FAILED"), "message": message}})
    else:
        console(stderr=True).print(f"[bold red]error:[/] {message}")
    return exit_code

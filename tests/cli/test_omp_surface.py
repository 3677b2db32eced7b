"""The ``omp`` command's surface as an operator and a script meet it: help on every command and
argument, --reason only where something changes (and "required" only where it is), one JSON shape
for results and errors (argument errors included), and shell completion that bash and zsh load."""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys

import pytest

from helpers_core import ROOT
from omp_cli.main import build_parser


def omp(*args, **kw):
    return subprocess.run([sys.executable, "-m", "omp_cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, **kw)


def _walk(parser: argparse.ArgumentParser, path=()):
    """(command path, its parser, the help its parent gives it) for every command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name)
                yield from _walk(sub, (*path, name))


def test_every_command_and_argument_has_help():
    missing = []
    commands = list(_walk(build_parser()))
    assert len(commands) > 50
    for path, sub, text in commands:
        if not text:
            missing.append(" ".join(path))
        for a in sub._actions:
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and not a.help:
                missing.append(f"{' '.join(path)} {a.option_strings or a.dest}")
    assert not missing, missing


def test_reason_is_offered_where_something_changes_and_said_required_only_where_it_is():
    required = {("queue", "remove"), ("queue", "disable"), ("queue", "reorder"), ("queue", "requeue"),
                ("hof", "set-state"), ("seeds", "register")}
    for path, sub, _ in _walk(build_parser()):
        reason = next((a for a in sub._actions if "--reason" in a.option_strings), None)
        if path in required:
            assert reason is not None and "required" in reason.help, path
        elif reason is not None:
            assert "required" not in reason.help, path
    reads = [("status",), ("queue", "list"), ("runs", "list"), ("events",), ("hof", "list"), ("audit",)]
    by_path = {p: s for p, s, _ in _walk(build_parser())}
    for path in reads:
        assert not any({"--reason", "--actor"} & set(a.option_strings) for a in by_path[path]._actions), path


def test_a_required_reason_missing_is_refused_before_any_call():
    r = omp("queue", "requeue", "camp_x", "--scheduler", "127.0.0.1:1", "--json")
    assert r.returncode == 2 and json.loads(r.stdout) == {
        "error": {"code": "INVALID_ARGUMENT", "message": "--reason is required to queue requeue"}}


def test_marking_the_data_not_ready_needs_a_reason_before_any_call():
    r = omp("data-ready", "no", "--scheduler", "127.0.0.1:1", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["message"] == \
        "--reason is required to mark the data not ready"


def test_argument_errors_are_json_errors_under_json():
    r = omp("queue", "reorder", "camp_x", "not-a-number", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 2 and doc["error"]["code"] == "INVALID_ARGUMENT"
    assert "priority" in doc["error"]["message"] and "not-a-number" in doc["error"]["message"]
    r = omp("runs", "list", "--status", "sideways", "--json")
    assert r.returncode == 2 and "sideways" in json.loads(r.stdout)["error"]["message"]
    r = omp("queue", "reorder", "camp_x", "not-a-number")          # a person gets argparse's usage
    assert r.returncode == 2 and "usage:" in r.stderr and r.stdout == ""


def test_an_unreachable_service_is_a_json_error_naming_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]           # bound, never listening: refused at once
        r = omp("status", "--scheduler", f"127.0.0.1:{port}", "--timeout", "3", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 3 and doc["error"]["code"] == "UNAVAILABLE" and str(port) in doc["error"]["message"]
    assert set(doc) == {"error"}


def test_a_call_from_the_command_loads_no_database_layer_nor_server():
    """Each ``omp`` is a process of its own that an operator waits for: building its parser loaded
    the services' runner (for --version), and with it SQLAlchemy and gRPC's server, 0.2-0.3 s of
    every command's 0.7 here."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        probe = ("import sys; from omp_cli.main import main\n"
                 f"try:\n    main(['queue', 'list', '--scheduler', '127.0.0.1:{port}', '--timeout', '3'])\n"
                 "except SystemExit:\n    pass\n"
                 "print(sorted(m for m in ('sqlalchemy', 'omp_services.common.server', 'prometheus_client') "
                 "if m in sys.modules))")
        r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stdout.strip().splitlines()[-1] == "[]", r.stdout + r.stderr


def test_bash_completes_commands_subcommands_and_choices(tmp_path):
    bash = shutil.which("bash")
    assert bash
    script = tmp_path / "omp.bash"
    r = omp("completion", "bash")
    assert r.returncode == 0
    script.write_text(r.stdout)

    def complete(line: str) -> set[str]:
        words = line.split(" ")
        probe = (f"source {script}\nCOMP_WORDS=({' '.join(repr(w) for w in words)})\n"
                 f"COMP_CWORD={len(words) - 1}\nCOMP_LINE={line!r}\nCOMP_POINT={len(line)}\n"
                 "_shtab_omp\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
        out = subprocess.run([bash, "--norc", "-c", probe], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return {w.strip() for w in out.stdout.split()}
    assert "queue" in complete("omp qu")
    assert {"remove", "requeue", "reorder"} <= complete("omp queue re")
    assert {"running", "completed", "failed", "cancelled"} <= complete("omp runs list --status ")


def test_zsh_loads_the_completion_and_knows_the_commands(tmp_path):
    zsh = shutil.which("zsh")
    assert zsh, "zsh is needed (Debian's zsh package; scripts/ensure-tools installs it)"
    r = omp("completion", "zsh")
    assert r.returncode == 0
    (tmp_path / "_omp").write_text(r.stdout)
    check = subprocess.run([zsh, "-n", str(tmp_path / "_omp")], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    # compinit picks the function up from fpath, as an installed completion is
    probe = (f"fpath=({tmp_path} $fpath); autoload -Uz compinit; compinit -u -d {tmp_path}/.zcompdump; "
             "print -r -- ${_comps[omp]}")
    out = subprocess.run([zsh, "-f", "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "_omp", out.stdout + out.stderr
    assert "requeue:'queue a completed or failed campaign again'" in r.stdout


@pytest.mark.parametrize("shell", ["fish"])
def test_an_unknown_shell_is_refused(shell):
    r = omp("completion", shell)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_json_output_shows_a_struct_as_the_document_it_carries():
    """An event's detail travels as a google.protobuf.Struct, whose numbers are doubles: the
    command's JSON shows the document with its integers as integers (MessageToDict alone would say
    "attempt": 1.0), and an integer too large for a double as its exact digits."""
    from omp.v1 import common_pb2 as pb
    from omp_cli.output import message_dict
    from omp_services.common.convert import struct_pb
    e = pb.Event(seq=3, kind="run.completed", detail=struct_pb({"run_id": "run_x", "attempt": 1, "sharpe": 0.5,
                                                                 "seed": 2 ** 62 + 1}))
    assert message_dict(e)["detail"] == {"run_id": "run_x", "attempt": 1, "sharpe": 0.5, "seed": "4611686018427387905"}
    assert message_dict(e)["seq"] == "3"            # int64 in proto3 JSON, as ever
    assert "detail" not in message_dict(pb.Event(seq=4))          # an event without one says nothing

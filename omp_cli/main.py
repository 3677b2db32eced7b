"""The ``omp`` command.

Exit codes: 0 success, 1 the run or check failed, 2 bad usage or bad input (config, data, a refused
request), 3 a service is unreachable, 4 refused by the current state (e.g. pausing a stopped daemon).
Human output goes to a terminal (rich tables and progress bars); ``--json`` prints JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from omp_cli.output import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, console as _console, error as _fail

DEFAULT_OUT = Path(os.environ.get("OMP_OUTPUT_DIR", "output/runs"))


def cmd_validate_config(args) -> int:
    from omp_core import config, data
    try:
        cfg = config.load(args.config)
        detail = {"ok": True, "config": str(args.config), "campaign": cfg.campaign.name,
                  "config_hash": cfg.config_hash}
        if args.data:
            market = data.load_market(cfg.sources(args.data_root), cfg.mandate.universe,
                                      cfg.data.validation.policy(), min_bars=cfg.data.min_bars)
            detail.update(snapshot_id=market.snapshot_id, bars=market.n_bars, symbols=list(market.symbols),
                          validation_actions=len(market.report["actions"]))
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT, args.json)
    if args.json:
        print(json.dumps(detail))
    else:
        _console().print(f"[green]ok[/] {args.config}: {cfg.campaign.name} (config_hash {cfg.config_hash[:16]})"
                         + (f", {detail['bars']} bars x {len(detail['symbols'])} symbols, snapshot "
                            f"{detail['snapshot_id'][:16]}" if args.data else ""), highlight=False)
    return EXIT_OK


def cmd_run_campaign(args) -> int:
    from omp_core import config
    from omp_core.run import RuntimeLimitExceeded, run_campaign

    try:
        cfg = config.load(args.config)
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT, args.json)
    show = not args.json and sys.stderr.isatty() or args.progress
    try:
        if show:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            columns = [TextColumn("seed {task.fields[seed]:>6}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("best IS Sharpe {task.fields[best]:>6.2f}"),
                       TextColumn("{task.fields[eps]:>7.0f} evals/s"), TimeElapsedColumn()]
            with Progress(*columns, console=_console(stderr=True)) as bar:
                tasks = {s: bar.add_task("", total=cfg.ga.generations, seed=s, best=float("nan"), eps=0.0)
                         for s in cfg.seeds}

                def on_progress(p):
                    bar.update(tasks[p.seed], completed=p.generation, best=p.best_sharpe,
                               eps=p.evaluations_per_second)
                result = run_campaign(args.config, args.out, data_root=args.data_root, threads=args.threads,
                                      run_id=args.run_id, progress=on_progress, backend=args.backend,
                                      ray_address=args.ray_address)
        else:
            result = run_campaign(args.config, args.out, data_root=args.data_root, threads=args.threads,
                                  run_id=args.run_id, backend=args.backend, ray_address=args.ray_address)
    except RuntimeLimitExceeded as exc:
        return _fail(str(exc), EXIT_FAILED, args.json)
    except (ValueError, FileNotFoundError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT, args.json)
    except RuntimeError as exc:
        if args.backend == "local":
            raise
        return _fail(f"backend {args.backend}: {exc}", EXIT_FAILED, args.json)    # no Ray, no cluster, no node
    if args.json:
        print(json.dumps({"ok": True, "run_id": result.run_id, "run_dir": str(result.run_dir),
                          "snapshot_id": result.manifest["snapshot_id"],
                          "config_hash": result.manifest["config_hash"],
                          "pbo": result.candidates["pbo"]["pbo"],
                          "candidates": [{k: c[k] for k in ("rank", "genome_hash", "rule", "dsr")}
                                         | {"is_sharpe": c["in_sample"]["sharpe"],
                                            "oos_sharpe": c["out_of_sample"]["sharpe"],
                                            "stress": c["stress"]["summary"]}
                                         for c in result.candidates["candidates"]]}))
        return EXIT_OK
    _print_run(result)
    return EXIT_OK


def _fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def _print_run(result) -> None:
    from rich.table import Table
    con = _console()
    c = result.candidates
    table = Table(title=f"run {result.run_id}: top candidates ({c['n_trials']} distinct genomes tried)")
    table.add_column("#", no_wrap=True)
    table.add_column("rule", overflow="fold", min_width=30)
    for col in ("IS Sharpe", "OOS Sharpe", "OOS MaxDD", "OOS trades", "DSR", "stress"):
        table.add_column(col, no_wrap=True, justify="right")
    for cand in c["candidates"]:
        table.add_row(str(cand["rank"]), cand["rule"], _fmt(cand["in_sample"]["sharpe"]),
                      _fmt(cand["out_of_sample"]["sharpe"]), _fmt(cand["out_of_sample"]["max_drawdown"], ".1%"),
                      str(cand["out_of_sample"]["trades"]), _fmt(cand["dsr"], ".3f"), cand["stress"]["summary"])
    con.print(table)
    pbo = c["pbo"]
    con.print(f"PBO over the top {pbo['candidates']} (in sample, {pbo.get('combinations', 0)} CSCV splits): "
              f"{_fmt(pbo['pbo'], '.2f')}; Sharpe variance across candidates: "
              f"{_fmt(c['sharpe_variance']['in_sample'], '.4f')}", highlight=False)
    con.print(f"run folder: {result.run_dir}", highlight=False)


def cmd_security(args) -> int:
    from omp_services.common import certificates
    try:
        if args.security_command == "init":
            paths = certificates.init(args.folder, tuple(args.host or ("127.0.0.1", "localhost")), args.admin)
            print("[security]")
            for key in ("tls_cert", "tls_key", "tls_ca", "tokens_file", "token_file"):
                print(f'{key} = "{Path(paths[key]).resolve()}"')
            token = paths["admin_token"]
            print(f"# your {args.admin} token is in {token}: export OMP_TOKEN_FILE={token}", file=sys.stderr)
        elif args.security_command == "cert":
            cert, key = certificates.make_certificate(args.folder, args.name,
                                                      tuple(args.host or ("127.0.0.1", "localhost")))
            print(f"{cert}\n{key}")
        else:
            certificates.add_token(args.tokens_file, args.name, args.role, args.out)
            print(f"{args.name} ({args.role}): token written to {args.out}; its sha256 added to {args.tokens_file}")
    except (ValueError, OSError) as exc:
        return _fail(str(exc), EXIT_BAD_INPUT, False)
    return 0


def cmd_completion(args) -> int:
    import shtab
    sys.stdout.write(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def _integer(bits: int):
    """An argparse type for an integer that travels in a protobuf int32 or int64 field: a value out
    of its range is refused naming the value, not turned into a traceback by the encoder."""
    low, high = -2 ** (bits - 1), 2 ** (bits - 1) - 1

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range (a {bits}-bit integer)")
        return value
    parse.__name__ = f"int{bits}"
    return parse


INT32, INT64 = _integer(32), _integer(64)


class _Parser(argparse.ArgumentParser):
    """No abbreviated options: ``--token s3cret`` must be refused, not taken for ``--token-file``
    (and the secret then named in an error). Every subcommand's parser is of this class too. A
    usage error is a JSON error when the command line asks for JSON."""

    json_errors = False         # set by main() from the command line, before parsing

    def __init__(self, *args, **kw):
        kw.setdefault("allow_abbrev", False)
        super().__init__(*args, **kw)

    def error(self, message):
        if _Parser.json_errors:
            _fail(f"{self.prog}: {message}", EXIT_BAD_INPUT, True)
            self.exit(EXIT_BAD_INPUT)
        super().error(message)


def build_parser() -> argparse.ArgumentParser:
    from omp_cli import remote
    from omp_services.common.vocabulary import CampaignState, EntryState, RunStatus

    # what every command that talks to the services takes; a command that changes something also
    # takes who is acting (--actor) and, where it says why, --reason
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    common.add_argument("--scheduler", default=None, help="scheduler address host:port (default from the settings)")
    common.add_argument("--miner", default=None, help="miner address host:port (default from the settings)")
    common.add_argument("--watchdog", default=None, help="watchdog address host:port (default from the settings)")
    common.add_argument("--promoter", default=None, help="promoter address host:port (default from the settings)")
    common.add_argument("--timeout", type=float, default=10.0, help="deadline of each call, seconds")
    common.add_argument("--token-file", default=None, metavar="FILE",
                        help="a file (mode 0600) holding your bearer token, when the services ask for one "
                             "(default $OMP_TOKEN_FILE, else the token in $OMP_TOKEN; never the token itself here)")
    common.add_argument("--cert", default=None, help="your client certificate under mutual TLS (default $OMP_TLS_CERT)")
    common.add_argument("--key", default=None, help="its private key, mode 0600 (default $OMP_TLS_KEY)")
    common.set_defaults(actor=os.environ.get("USER", "operator"), reason="", needs_reason=False)

    def who(reason: str | None) -> argparse.ArgumentParser:
        w = _Parser(add_help=False)
        w.add_argument("--actor", default=os.environ.get("USER", "operator"),
                       help="who is acting, kept in the audit trail (default $USER)")
        if reason is not None:
            w.add_argument("--reason", default="", help=reason)
            w.set_defaults(needs_reason=reason.startswith("why (required)"))
        return w
    acting = [common, who(None)]                                        # who, no why
    change = [common, who("why: kept with the change in the audit trail")]
    must = [common, who("why (required): kept with the change in the audit trail")]

    p = _Parser(prog="omp", description="OMP: mine trading strategies around the clock")
    p.add_argument("--config", dest="settings_file", default=None, metavar="OMP_TOML",
                   help="the services' settings (omp.toml): the commands that talk to the services use its "
                        "[scheduler] and [miner] addresses (default $OMP_CONFIG, else 127.0.0.1:50051 and :50052)")
    from omp_services.common.version import VersionAction
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate-config", help="check a campaign config (and, with --data, its data)")
    v.add_argument("config", type=Path, help="the campaign's TOML file")
    v.add_argument("--data", action="store_true", help="also load and validate the market data")
    v.add_argument("--data-root", type=Path, default=None,
                   help="refuse data files outside this folder")
    v.add_argument("--json", action="store_true", help="print JSON instead of text")
    v.set_defaults(func=cmd_validate_config)

    r = sub.add_parser("run-campaign", help="run a campaign locally, without services")
    r.add_argument("config", type=Path, help="the campaign's TOML file")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    r.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="evaluation threads (with --backend ray: per node)")
    r.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where genomes are scored: this process's threads, or Ray actors (pip install 'omp[ray]')")
    r.add_argument("--ray-address", default=None,
                   help="with --backend ray: the cluster's address (host:port or auto); without, a local Ray")
    r.add_argument("--run-id", default=None, help="run id, run_<...> (default: derived from config, data and seeds)")
    r.add_argument("--data-root", type=Path, default=None, help="refuse data files outside this folder")
    r.add_argument("--json", action="store_true", help="print JSON instead of tables")
    r.add_argument("--progress", action="store_true", help="show progress bars even when not a terminal")
    r.set_defaults(func=cmd_run_campaign)

    st = sub.add_parser("status", parents=[common], help="daemon state, data readiness, resources, queue")
    st.set_defaults(func=remote.cmd_status)
    for name, text in (("start", "start the daemon"), ("stop", "stop the daemon (running runs go on)"),
                       ("pause", "pause admissions"), ("resume", "resume admissions")):
        sub.add_parser(name, parents=change, help=text).set_defaults(func=remote.cmd_daemon)
    d = sub.add_parser("data-ready", parents=change, help="mark market data ready (yes) or not (no)")
    d.add_argument("state", choices=("yes", "no"), help="yes: mining may use the data; no: nothing is admitted "
                                                        "(no needs --reason)")
    d.set_defaults(func=remote.cmd_data_ready)

    q = sub.add_parser("queue", help="the campaign queue").add_subparsers(dest="queue_command", required=True)
    ql = q.add_parser("list", parents=[common], help="campaigns in queue order (aged priority, then age)")
    ql.add_argument("--state", choices=[s.value for s in CampaignState], default="",
                    help="only campaigns in this state")
    ql.add_argument("--tag", default="", help="only campaigns with this tag")
    ql.add_argument("--enabled", action="store_true", help="enabled campaigns only")
    ql.add_argument("--page-size", type=INT32, default=50, help="how many a page holds")
    ql.add_argument("--all", action="store_true", help="follow every page")
    qa = q.add_parser("add", parents=change, help="add a campaign to the queue")
    qa.add_argument("name", help="a name people know it by")
    qa.add_argument("config", help="config path relative to the configs root")
    qa.add_argument("--priority", type=INT32, default=10, help="0 runs first (default 10)")
    qa.add_argument("--market", default="us", help="the market it mines (default us)")
    qa.add_argument("--repeat", action="store_true", help="queue it again after each run (after a cooldown)")
    qa.add_argument("--disabled", action="store_true", help="add it disabled: it waits for `omp queue enable`")
    qa.add_argument("--tag", action="append", help="a tag (repeatable)")
    qa.add_argument("--request-id", default="", help="idempotency key: retrying with it adds once")
    qu = q.add_parser("update", parents=change, help="change a campaign's fields (only those given)")
    qu.add_argument("id", help="the campaign's id")
    qu.add_argument("--name", help="a new name")
    qu.add_argument("--config", help="a new config path, relative to the configs root")
    qu.add_argument("--market", help="a new market")
    qu.add_argument("--priority", type=INT32, help="a new priority")
    qu.add_argument("--repeat", choices=("yes", "no"), help="queue it again after each run, or not")
    qu.add_argument("--tags", help="the new tags, comma-separated (replace the old ones)")
    qu.add_argument("--field", action="append", help="name a field in the update mask directly ('*': replace "
                                                     "every updatable field with what is given)")
    for name, parents, what in (("remove", must, "remove a campaign (kept in the change log)"),
                                ("enable", change, "enable a campaign (and end a repeat campaign's cooldown)"),
                                ("disable", must, "disable a campaign: it stays queued, never admitted"),
                                ("requeue", must, "queue a completed or failed campaign again")):
        q.add_parser(name, parents=parents, help=what).add_argument("id", help="the campaign's id")
    qr = q.add_parser("reorder", parents=must, help="give a campaign another priority")
    qr.add_argument("id", help="the campaign's id")
    qr.add_argument("priority", type=INT32, help="the new priority (0 runs first)")
    qi = q.add_parser("import", parents=change, help="add the campaigns of a queue file (omp queue export's JSON)")
    qi.add_argument("file", help="the queue file")
    qi.add_argument("--request-id", default="", help="idempotency key (default: from the file's content)")
    q.add_parser("export", parents=[common], help="the whole queue as a JSON queue file").add_argument(
        "file", nargs="?", help="write it here (atomically) instead of to stdout")
    qc = q.add_parser("changes", parents=[common], help="the queue's change log: who changed what, and why")
    qc.add_argument("id", nargs="?", help="one campaign's changes (default: every campaign's)")
    qc.add_argument("--page-size", type=INT32, default=100, help="how many changes")
    for qp in q.choices.values():
        qp.set_defaults(func=remote.cmd_queue)

    rn = sub.add_parser("runs", help="runs on the miner").add_subparsers(dest="runs_command", required=True)
    rl = rn.add_parser("list", parents=[common], help="runs, newest first")
    rl.add_argument("--campaign", help="one campaign's runs")
    rl.add_argument("--status", choices=[s.value for s in RunStatus], help="only runs with this status")
    rl.add_argument("--page-size", type=INT32, default=50, help="how many")
    for name, parents, what in (("show", [common], "one run with its progress"),
                                ("watch", [common], "follow a run until it ends (a line per change without a "
                                                    "terminal); exit 0 when it completed"),
                                ("cancel", change, "stop a run (its campaign is disabled)")):
        rn.add_parser(name, parents=parents, help=what).add_argument("run_id", help="run_<...>")
    re_ = rn.add_parser("export", parents=[common], help="a completed run's top candidates as JSON")
    re_.add_argument("run_id", help="run_<...>")
    re_.add_argument("--top", type=INT32, default=10, help="how many candidates (0: all)")
    for rp in rn.choices.values():
        rp.set_defaults(func=remote.cmd_runs)

    ev = sub.add_parser("events", parents=[common], help="the newest events of the activity log, or live events")
    ev.add_argument("--after", type=INT64, default=0, help="only events after this sequence number")
    ev.add_argument("--last", type=INT32, default=20, metavar="N", help="the newest N events (default 20)")
    ev.add_argument("--all", action="store_true", help="the whole history (after --after), not the newest N")
    ev.add_argument("--follow", "-f", action="store_true", help="keep streaming new events")
    ev.set_defaults(func=remote.cmd_events)

    inc = sub.add_parser("incidents", help="the watchdog's incidents").add_subparsers(dest="incidents_command",
                                                                                      required=True)
    il = inc.add_parser("list", parents=[common], help="incidents, newest first")
    il.add_argument("--open", action="store_true", help="open incidents only")
    il.add_argument("--page-size", type=INT32, default=50, help="how many")
    inc.add_parser("show", parents=[common], help="one incident as the playbook's Incident Report").add_argument(
        "id", help="INC-<n>")
    ir = inc.add_parser("resolve", parents=acting, help="resolve an incident (root cause and resolution required)")
    ir.add_argument("id", help="INC-<n>")
    ir.add_argument("--root-cause", required=True, help="what caused it")
    ir.add_argument("--resolution", required=True, help="what fixed it")
    ir.add_argument("--prevention", action="append", help="an action item (repeatable)")
    for ip in inc.choices.values():
        ip.set_defaults(func=remote.cmd_incidents)
    rs = sub.add_parser("resources", parents=[common], help="the watchdog's latest resource samples")
    rs.add_argument("--history", type=INT32, default=5, help="how many samples before the latest")
    rs.set_defaults(func=remote.cmd_resources)

    ol = sub.add_parser("ops-log", parents=[common], help="the Mining Daily Ops Log of a day (UTC), from real figures")
    ol.add_argument("--date", default="", help="YYYY-MM-DD (default: today)")
    ol.set_defaults(func=remote.cmd_ops_log)

    cl = sub.add_parser("cleanup", parents=acting, help="retention of run folders (the watchdog's)")
    cl.add_argument("--dry-run", action="store_true", help="print the plan with sizes; change nothing")
    cl.add_argument("--archives", action="store_true", help="list the compressed run folders")
    cl.add_argument("--restore", metavar="RUN_FOLDER", help="unpack a compressed run folder (run_<id>)")
    cl.set_defaults(func=remote.cmd_cleanup)

    for name, what in (("promote-check", "every promotion gate for a run, with values and thresholds; writes "
                                         "nothing (exit 0 when it would promote, 1 otherwise)"),
                       ("promote", "judge a completed run and enter what passes into the Hall of Fame "
                                   "(idempotent: asked again, the stored decision)")):
        pc = sub.add_parser(name, parents=[common] if name == "promote-check" else acting, help=what)
        pc.add_argument("run_id", help="run_<...>")
        pc.set_defaults(func=remote.cmd_promote)
    hof = sub.add_parser("hof", help="the Hall of Fame (the promoter's)").add_subparsers(dest="hof_command",
                                                                                         required=True)
    hl = hof.add_parser("list", parents=[common], help="entries, newest first")
    hl.add_argument("--state", choices=[s.value for s in EntryState], help="only entries in this state")
    hl.add_argument("--page-size", type=INT32, default=50, help="how many")
    hof.add_parser("show", parents=[common], help="one entry with its provenance and history").add_argument(
        "genome_hash", help="the entry's genome_hash")
    hof.add_parser("packet", parents=[common], help="one entry's Promotion Packet (markdown)").add_argument(
        "genome_hash", help="the entry's genome_hash")
    hs = hof.add_parser("set-state", parents=must, help="change an entry's state (--reason required; kept as "
                                                            "its history)")
    hs.add_argument("genome_hash", help="the entry's genome_hash")
    hs.add_argument("state", choices=[s.value for s in EntryState], help="the new state")
    hof.add_parser("sync", parents=[common], help="sync the PostgreSQL mirror now and say how far behind it is")
    hof.add_parser("revalidate", parents=acting, help="re-run the active entries on the latest data (flags the "
                                                        "ones that no longer hold)").add_argument(
        "genome_hash", nargs="?", default="", help="one entry (default: every active one)")
    hc = hof.add_parser("check", parents=acting, help="the Hall of Fame Integrity Check (exit 0 only when all holds)")
    hc.add_argument("--samples", type=INT32, default=5, help="how many entries to check one by one")
    hc.add_argument("--seed", type=INT64, default=0, help="the sample's seed (0: a different one each time)")
    for hp in hof.choices.values():
        hp.set_defaults(func=remote.cmd_hof)

    seeds = sub.add_parser("seeds", help="the seeds each campaign may promote from (the promoter's)").add_subparsers(
        dest="seeds_command", required=True)
    seeds.add_parser("list", parents=[common], help="registered seeds").add_argument(
        "campaign_id", nargs="?", default="", help="one campaign's (default: every campaign's)")
    sr = seeds.add_parser("register", parents=must, help="let a campaign promote from another seed (--reason "
                                                             "required)")
    sr.add_argument("campaign_id", help="the campaign's id")
    sr.add_argument("seed", type=INT64, help="the seed")
    for sp in seeds.choices.values():
        sp.set_defaults(func=remote.cmd_seeds)

    au = sub.add_parser("audit", parents=[common], help="the audit log: every change and refusal, with who really "
                                                        "called (operator role)")
    au.add_argument("--principal", help="only this principal's calls")
    au.add_argument("--refused", action="store_true", help="only the calls refused (unauthenticated, denied)")
    au.add_argument("--page-size", type=INT32, default=100, help="how many records a page holds")
    au.add_argument("--all", action="store_true", help="follow every page")
    au.set_defaults(func=remote.cmd_audit)

    sec = sub.add_parser("security", help="make a local CA, certificates and tokens for [security]").add_subparsers(
        dest="security_command", required=True)
    si = sec.add_parser("init", help="a CA, a certificate and a token for each service, and an admin token, in "
                                     "FOLDER; prints the [security] section to use")
    si.add_argument("folder", type=Path, help="where to write them (created, mode 0700)")
    si.add_argument("--host", action="append", help="a name or address the services are reached at (repeatable; "
                                                    "default 127.0.0.1 and localhost)")
    si.add_argument("--admin", default="admin", help="the admin principal's name")
    sc = sec.add_parser("cert", help="a certificate for NAME signed by FOLDER's CA (server and client use)")
    sc.add_argument("folder", type=Path, help="the folder holding ca.crt and ca.key")
    sc.add_argument("name", help="its common name: the principal under mutual TLS")
    sc.add_argument("--host", action="append", help="a name or address for its subject alternative names")
    sa = sec.add_parser("add-token", help="a new bearer token: its sha256 into the tokens file, the token into "
                                          "--out (mode 0600)")
    sa.add_argument("tokens_file", type=Path, help="the tokens file ([security] tokens_file)")
    sa.add_argument("name", help="the principal's name")
    sa.add_argument("role", choices=("viewer", "operator", "admin", "service"), help="its role")
    sa.add_argument("--out", type=Path, required=True, help="where to write the token (never printed)")
    for sp in sec.choices.values():
        sp.set_defaults(func=cmd_security)

    he = sub.add_parser("health", parents=[common], help="every service's health; exit 0 only when all is well")
    he.add_argument("--max-tick-age", type=float, default=120.0,
                    help="seconds the scheduler's last tick may be late past its interval (and the watchdog's "
                         "disk sample old)")
    he.add_argument("--min-disk-gb", type=float, default=2.0, help="free disk below this is unhealthy")
    he.add_argument("--restart-after", type=int, default=0, metavar="N",
                    help="for a timer: exit 75 once N checks in a row were unhealthy (then count again), "
                         "counted in --failures-file")
    he.add_argument("--failures-file", default="var/health-failures",
                    help="where --restart-after keeps its count (default var/health-failures)")
    he.set_defaults(func=remote.cmd_health)

    co = sub.add_parser("completion", help='a completion script for your shell: eval "$(omp completion bash)", or '
                                           'omp completion zsh > "${fpath[1]}/_omp"')
    co.add_argument("shell", choices=("bash", "zsh"), help="the shell")
    co.set_defaults(func=cmd_completion)

    up = sub.add_parser("up", help="run the promoter, the scheduler, the miner and the watchdog locally until Ctrl-C")
    up.add_argument("--config", default=None, help="omp.toml (default: omp --config, $OMP_CONFIG, else built-in "
                                                   "defaults)")
    up.add_argument("--demo", action="store_true", help="queue the shipped example campaigns (real data, and the "
                                                        "planted edge) and start mining")
    up.add_argument("--demo-config", action="append", default=None,
                    help="a config of the demo instead of the shipped two (repeatable)")
    up.add_argument("--exit-after-run", action="store_true",
                    help="with --demo: stop once each demo run has ended and been judged")
    up.add_argument("--json", action="store_true", help="print JSON lines (the addresses, then each event)")
    up.set_defaults(func=lambda a: __import__("omp_cli.up", fromlist=["cmd_up"]).cmd_up(a))
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _Parser.json_errors = "--json" in argv
    args = build_parser().parse_args(argv)
    as_json = getattr(args, "json", False)
    if getattr(args, "needs_reason", False) and not args.reason.strip():
        what = " ".join(w for w in (args.command, getattr(args, f"{args.command}_command", "")) if w)
        return _fail(f"--reason is required to {what}", EXIT_BAD_INPUT, as_json)
    if args.command == "data-ready" and args.state == "no" and not args.reason.strip():
        return _fail("--reason is required to mark the data not ready", EXIT_BAD_INPUT, as_json)
    if getattr(args, "restart_after", 0) < 0:
        return _fail(f"--restart-after must be >= 0, got {args.restart_after}", EXIT_BAD_INPUT, as_json)
    if getattr(args, "threads", 1) < 1:
        return _fail(f"--threads must be >= 1, got {args.threads}", EXIT_BAD_INPUT, as_json)
    if getattr(args, "last", 1) < 1:
        return _fail(f"--last must be >= 1, got {args.last}", EXIT_BAD_INPUT, as_json)
    if hasattr(args, "scheduler"):      # the addresses, TLS and the operator's identity
        from omp_services.common import security, settings
        try:
            loaded = settings.load(args.settings_file)
            args.security = security.for_command(loaded, args.token_file, args.cert, args.key)
        except ValueError as exc:
            return _fail(str(exc), EXIT_BAD_INPUT, as_json)
        args.scheduler = args.scheduler or loaded.endpoint("scheduler").address
        args.miner = args.miner or loaded.endpoint("miner").address
        args.watchdog = args.watchdog or loaded.endpoint("watchdog").address
        args.promoter = args.promoter or loaded.endpoint("promoter").address
    try:
        return args.func(args)
    except KeyboardInterrupt:       # Ctrl-C: the shell's convention, 128 + SIGINT
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``omp`` commands that talk to the services: status, daemon control, queue, runs, events.

Exit codes: 0 done; 2 refused as bad input (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS);
3 a service is unreachable or too slow; 4 refused by state (FAILED_PRECONDITION); 5 refused as
unauthenticated or not allowed for your role; 1 anything else.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import time
from pathlib import Path

from google.protobuf import field_mask_pb2

from omp.v1 import (common_pb2 as pb, miner_pb2 as mpb, miner_pb2_grpc, promoter_pb2 as ppb, promoter_pb2_grpc,
                    scheduler_pb2 as spb, scheduler_pb2_grpc, watchdog_pb2 as wpb, watchdog_pb2_grpc)
from omp_services.common import errors
from omp_services.common.clients import Client
from omp_services.common.clock import SystemClock
from omp_services.common.convert import enum_pb, struct_dict, struct_pb
from omp_services.common.vocabulary import CampaignState, EntryState, RunStatus
from omp_cli.output import console as _con, emit, error, items, message_dict as _dict

STUBS = {"scheduler": scheduler_pb2_grpc.SchedulerServiceStub, "miner": miner_pb2_grpc.MinerServiceStub,
         "watchdog": watchdog_pb2_grpc.WatchdogServiceStub, "promoter": promoter_pb2_grpc.PromoterServiceStub}

EXIT = {errors.InvalidArgument: 2, errors.NotFound: 2, errors.AlreadyExists: 2, errors.Unavailable: 3,
        errors.DeadlineExceeded: 3, errors.FailedPrecondition: 4, errors.Unauthenticated: 5,
        errors.PermissionDenied: 5}


def fail(args, message: str, code: int, status: str | None = None) -> int:
    return error(message, code, args.json, status)


def failed(args, exc: errors.OmpError, service: str, target: str) -> int:
    """A call that ended in an error: its message (or, unreachable, where and why) and exit code."""
    code = EXIT.get(type(exc), 1)
    if code == 3:
        return fail(args, f"{service} at {target} is unreachable ({exc.code.name}): is it running?", 3, exc.code.name)
    return fail(args, str(exc), code, exc.code.name)


def call(args, service: str, method: str, request):
    """One RPC; a failure becomes (None, exit code) after a one-line message."""
    target = getattr(args, service)
    client = Client(STUBS[service], target, timeout=args.timeout, security=args.security)
    try:
        return client.call(method, request), 0
    except errors.OmpError as exc:
        return None, failed(args, exc, service, target)
    finally:
        client.close()


def _when(t) -> str:
    if not t.seconds:
        return "-"
    return dt.datetime.fromtimestamp(t.seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _enum(enum, value, prefix) -> str:
    return enum.Name(value).removeprefix(prefix).lower()


def show(args, msg, human) -> int:
    if args.json:
        emit(_dict(msg) if not isinstance(msg, dict) else msg)
    else:
        human(msg)
    return 0


def show_list(args, things, token: str, human, **extra) -> int:
    """A list: ``{"items": [...], "next_page_token": ...}`` in JSON."""
    if args.json:
        emit({**items([t if isinstance(t, (dict, str, int, float)) else _dict(t) for t in things], token), **extra})
    else:
        human(things)
    return 0


# ------------------------------------------------------------------------------------ status
def cmd_status(args) -> int:
    r, rc = call(args, "scheduler", "GetStatus", spb.GetStatusRequest())
    if r is None:
        return rc

    def human(st):
        from rich.table import Table
        t = Table(show_header=False, title="OMP status")
        t.add_row("environment", st.environment)
        t.add_row("daemon", _enum(pb.DaemonState, st.state, "DAEMON_STATE_"))
        t.add_row("data", _enum(pb.DataReadiness, st.data_readiness, "DATA_READINESS_")
                  + (f" ({st.data_readiness_reason})" if st.data_readiness_reason else ""))
        t.add_row("campaigns", f"{st.queued} queued, {st.running} running (max {st.max_concurrent_campaigns})"
                  + (f", {st.disabled} disabled" if st.disabled else ""))
        r = st.resources
        if r.error:
            t.add_row("resources", f"[red]no reading: {r.error}[/]")
        elif st.HasField("resources"):
            ok = "[green]within budget[/]" if r.within_budget else "[red]" + "; ".join(r.violations) + "[/]"
            t.add_row("resources", f"cpu {r.cpu_util_pct:.0f}%, mem {r.mem_available_mb:.0f} MB, "
                                   f"disk {r.disk_free_gb:.1f} GB: {ok}")
        t.add_row("last tick", f"{_when(st.last_tick_at)} {st.last_tick_outcome}")
        if st.HasField("throttled_until"):
            t.add_row("throttled", f"[yellow]x{st.throttle_factor:g} until {_when(st.throttled_until)}[/]")
        if st.leader:
            t.add_row("leader", st.leader + (" (this scheduler)" if st.is_leader else " ([yellow]this one stands by[/])"))
        for m in st.miners:
            state = ("[green]up[/]" if m.fresh else "[red]not heard of[/]") + (
                f", [yellow]backing off until {_when(m.backoff_until)}[/]" if m.HasField("backoff_until") else "")
            slots = f"{m.running}/{m.slots}" if m.slots else f"{m.running} running"
            t.add_row(f"miner {m.miner_id or '(configured)'}", f"{m.address}: {slots}, {state}")
        _con().print(t)
    return show(args, r.status, human)


DAEMON = {"start": ("StartDaemon", spb.StartDaemonRequest), "stop": ("StopDaemon", spb.StopDaemonRequest),
          "pause": ("PauseDaemon", spb.PauseDaemonRequest), "resume": ("ResumeDaemon", spb.ResumeDaemonRequest)}


def cmd_daemon(args) -> int:
    method, request = DAEMON[args.command]
    r, rc = call(args, "scheduler", method, request(actor=args.actor, reason=args.reason))
    if r is None:
        return rc
    return show(args, r.status, lambda s: _con().print(f"daemon {_enum(pb.DaemonState, s.state, 'DAEMON_STATE_')}"))


def cmd_data_ready(args) -> int:
    ready = pb.DATA_READINESS_READY if args.state == "yes" else pb.DATA_READINESS_NOT_READY
    r, rc = call(args, "scheduler", "SetDataReadiness",
                 spb.SetDataReadinessRequest(readiness=ready, actor=args.actor, reason=args.reason))
    if r is None:
        return rc
    return show(args, r.status, lambda s: _con().print(
        f"data {_enum(pb.DataReadiness, s.data_readiness, 'DATA_READINESS_')}"))


# ------------------------------------------------------------------------------------ queue
def _campaign_table(campaigns, title):
    from rich.table import Table
    t = Table(title=title)
    for col in ("id", "name", "priority", "state", "enabled", "repeat", "attempt", "config", "last error"):
        t.add_column(col, overflow="fold")
    for c in campaigns:
        state = _enum(pb.CampaignState, c.state, "CAMPAIGN_STATE_")
        if c.state == pb.CAMPAIGN_STATE_QUEUED and c.not_before.seconds > SystemClock().now():
            state += f" until {_when(c.not_before)}"   # a repeat campaign cooling down (UTC)
        t.add_row(c.id, c.name, str(c.priority), state,
                  "yes" if c.enabled else "[yellow]no[/]", "yes" if c.repeat else "no", str(c.attempt),
                  c.config_path, c.last_error[:60])
    _con().print(t)


def cmd_queue(args) -> int:
    sub = args.queue_command
    who = {"actor": args.actor, "reason": args.reason}
    if sub == "list":
        state = enum_pb(pb.CampaignState, args.state, CampaignState) if args.state else 0
        found, token = [], ""
        while True:
            resp, rc = call(args, "scheduler", "ListCampaigns", spb.ListCampaignsRequest(
                page_size=args.page_size, page_token=token, state=state, tag=args.tag, enabled_only=args.enabled))
            if resp is None:
                return rc
            found += list(resp.campaigns)
            token = resp.next_page_token
            if not token or not args.all:
                break
        return show_list(args, found, token, lambda f: _campaign_table(f, f"campaign queue ({len(f)} shown)"))
    if sub == "add":
        camp = pb.Campaign(name=args.name, config_path=args.config, market=args.market, priority=args.priority,
                           enabled=not args.disabled, repeat=args.repeat, tags=args.tag or [])
        c, rc = call(args, "scheduler", "AddCampaign", spb.AddCampaignRequest(
            campaign=camp, request_id=args.request_id, **who))
    elif sub == "update":
        camp, paths = pb.Campaign(id=args.id), []
        for flag, fld in (("name", "name"), ("config", "config_path"), ("market", "market"), ("priority", "priority")):
            v = getattr(args, flag)
            if v is not None:
                setattr(camp, fld, v)
                paths.append(fld)
        if args.repeat is not None:
            camp.repeat, _ = args.repeat == "yes", paths.append("repeat")
        if args.tags is not None:
            camp.tags.extend([t for t in args.tags.split(",") if t])
            paths.append("tags")
        if args.field and "*" in args.field:
            paths = ["*"]            # a full replacement: every updatable field from what is given
        elif args.field:
            paths += args.field      # lets a script name any field (an unknown one is refused)
        c, rc = call(args, "scheduler", "UpdateCampaign", spb.UpdateCampaignRequest(
            campaign=camp, update_mask=field_mask_pb2.FieldMask(paths=paths), **who))
    elif sub == "remove":
        r, rc = call(args, "scheduler", "RemoveCampaign", spb.RemoveCampaignRequest(id=args.id, **who))
        if r is None:
            return rc
        return show(args, {**_dict(r.campaign), "removed": True}, lambda c: _con().print(
            f"removed {r.campaign.id} {r.campaign.name!r} (it stays in the change log: omp queue changes "
            f"{r.campaign.id})"))
    elif sub == "requeue":
        c, rc = call(args, "scheduler", "RequeueCampaign", spb.RequeueCampaignRequest(id=args.id, **who))
    elif sub in ("enable", "disable"):
        c, rc = call(args, "scheduler", "SetCampaignEnabled", spb.SetCampaignEnabledRequest(
            id=args.id, enabled=sub == "enable", **who))
    elif sub == "reorder":
        c, rc = call(args, "scheduler", "ReorderCampaign", spb.ReorderCampaignRequest(
            id=args.id, priority=args.priority, **who))
    elif sub == "import":
        try:
            data = Path(args.file).read_bytes()
            doc = json.loads(data)
        except OSError as exc:
            return fail(args, f"cannot read {args.file}: {exc.strerror}", 2)
        except (ValueError, RecursionError) as exc:
            return fail(args, f"{args.file} is not a JSON document: {exc}", 2)
        if not isinstance(doc, dict):
            return fail(args, f"{args.file}: a queue file is a JSON object with a 'campaigns' array, "
                              f"got a {type(doc).__name__}", 2)
        # the same file imported again adds nothing twice: its content names the request
        rid = args.request_id or "import-" + hashlib.sha256(data).hexdigest()[:24]
        added = skipped = 0
        for k, part in enumerate(_import_parts(doc)):
            r, rc = call(args, "scheduler", "ImportQueue", spb.ImportQueueRequest(
                queue=struct_pb(part), request_id=f"{rid}-{k}", **who))
            if r is None:
                return rc
            added, skipped = added + r.added, skipped + r.skipped
        return show(args, {"added": added, "skipped": skipped},
                    lambda r: _con().print(f"imported {r['added']} campaign(s), skipped {r['skipped']}"))
    elif sub == "export":
        doc, token = None, ""
        while True:         # page by page: a large queue does not fit one answer
            r, rc = call(args, "scheduler", "ExportQueue", spb.ExportQueueRequest(page_token=token))
            if r is None:
                return rc
            page = struct_dict(r.queue)
            doc = page if doc is None else {**doc, "campaigns": doc["campaigns"] + page["campaigns"]}
            token = r.next_page_token
            if not token:
                break
        text = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()
        if not args.file:           # the queue file itself: one JSON document
            sys.stdout.write(text.decode())
            return 0
        from omp_core.atomic import write_bytes
        try:
            write_bytes(args.file, text)
        except OSError as exc:
            return fail(args, f"cannot write {args.file}: {exc.strerror or exc}", 2)
        return show(args, {"file": str(args.file), "campaigns": len(doc["campaigns"])},
                    lambda r: _con().print(f"exported {r['campaigns']} campaign(s) to {r['file']}"))
    elif sub == "changes":
        r, rc = call(args, "scheduler", "ListQueueChanges", spb.ListQueueChangesRequest(
            campaign_id=args.id or "", page_size=args.page_size))
        if r is None:
            return rc

        def human(changes):
            from rich.table import Table
            t = Table(title="queue change log")
            for col in ("id", "when", "campaign", "action", "actor", "reason"):
                t.add_column(col, overflow="fold")
            for q in changes:
                t.add_row(str(q.id), _when(q.at), q.campaign_id, q.action, q.actor, q.reason)
            _con().print(t)
        return show_list(args, r.changes, r.next_page_token, human)
    else:
        return fail(args, f"unknown queue command {sub!r}", 2)
    if c is None:
        return rc
    return show(args, c.campaign, lambda c: _con().print(
        f"{c.id} {c.name!r}: priority {c.priority}, {_enum(pb.CampaignState, c.state, 'CAMPAIGN_STATE_')}, "
        f"{'enabled' if c.enabled else 'disabled'}"))


IMPORT_PART = 5000      # campaigns per ImportQueue call (the scheduler's bound)


def _import_parts(doc: dict) -> list[dict]:
    """The queue document in parts the scheduler accepts; one that is not a queue document goes as
    it is, for the scheduler to say what is wrong with it."""
    campaigns = doc.get("campaigns")
    if not isinstance(campaigns, list) or len(campaigns) <= IMPORT_PART:
        return [doc]
    return [{**doc, "campaigns": campaigns[i:i + IMPORT_PART]} for i in range(0, len(campaigns), IMPORT_PART)]


# ------------------------------------------------------------------------------------ runs
def _run_line(r) -> str:
    p = r.progress
    status = _enum(pb.RunStatus, r.status, "RUN_STATUS_")
    return (f"{r.run_id} {status} campaign {r.campaign_id} attempt {r.attempt}: seed {p.seed} generation "
            f"{p.generation}/{p.generations}, best IS Sharpe {p.best_sharpe:.2f}"
            + (f" [red]{r.error}[/]" if r.error else ""))


def cmd_runs(args) -> int:
    sub = args.runs_command
    if sub == "list":
        status = enum_pb(pb.RunStatus, args.status, RunStatus) if args.status else 0
        r, rc = call(args, "miner", "ListRuns", mpb.ListRunsRequest(
            campaign_id=args.campaign or "", status=status, page_size=args.page_size))
        if r is None:
            return rc

        def human(runs):
            from rich.table import Table
            t = Table(title="runs")
            for col in ("run", "campaign", "attempt", "status", "generation", "best IS Sharpe", "started", "error"):
                t.add_column(col, overflow="fold")
            for x in runs:
                t.add_row(x.run_id, x.campaign_id, str(x.attempt), _enum(pb.RunStatus, x.status, "RUN_STATUS_"),
                          f"{x.progress.generation}/{x.progress.generations}", f"{x.progress.best_sharpe:.2f}",
                          _when(x.started_at), x.error[:60])
            _con().print(t)
        return show_list(args, r.runs, r.next_page_token, human)
    if sub == "show":
        r, rc = call(args, "miner", "GetRun", mpb.GetRunRequest(run_id=args.run_id))
        return rc if r is None else show(args, r.run, lambda r: _con().print(_run_line(r)))
    if sub == "cancel":
        r, rc = call(args, "miner", "CancelRun", mpb.CancelRunRequest(run_id=args.run_id, reason=args.reason,
                                                                           actor=args.actor))
        return rc if r is None else show(args, r.run, lambda r: _con().print(f"cancelling {r.run_id}"))
    if sub == "export":
        r, rc = call(args, "miner", "ExportTopCandidates", mpb.ExportTopCandidatesRequest(
            run_id=args.run_id, top=args.top))
        if r is None:
            return rc
        sys.stdout.write(json.dumps(struct_dict(r.candidates), indent=2, sort_keys=True) + "\n")
        return 0
    if sub == "watch":
        return _watch_run(args)
    return fail(args, f"unknown runs command {sub!r}", 2)


def _watch_run(args) -> int:
    """Follow a run until it ends: a progress bar on a terminal, else a line per change (JSON
    lines with --json); exit 0 when it completed."""
    client = Client(STUBS["miner"], args.miner, timeout=args.timeout, security=args.security)
    last = None
    try:
        if args.json or not sys.stderr.isatty():
            out = _con()
            for r in (x.run for x in client.stream("WatchRun", mpb.WatchRunRequest(run_id=args.run_id))):
                if args.json:
                    emit(_dict(r))
                else:
                    out.print(_run_line(r))
                    sys.stdout.flush()
                last = r
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TextColumn("best IS Sharpe {task.fields[best]:.2f}"), console=_con(stderr=True)) as bar:
                task = bar.add_task(args.run_id, total=None, best=0.0)
                going: dict[int, int] = {}      # the unfinished seeds' generations (searched side by side)
                for r in (x.run for x in client.stream("WatchRun", mpb.WatchRunRequest(run_id=args.run_id))):
                    p = r.progress
                    total = (p.generations or 1) * (p.seeds_total or 1)
                    if p.generation < p.generations:
                        going[p.seed] = p.generation
                    else:
                        going.pop(p.seed, None)
                    done = p.seeds_done * (p.generations or 0) + sum(going.values())
                    bar.update(task, total=total, completed=min(done, total),
                               description=f"{r.run_id} seed {p.seed}", best=p.best_sharpe)
                    last = r
            _con().print(_run_line(last) if last else "no run")
    except errors.OmpError as exc:
        return failed(args, exc, "miner", args.miner)
    finally:
        client.close()
    return 0 if last is not None and last.status == pb.RUN_STATUS_COMPLETED else 1


# ------------------------------------------------------------------------------------ events
#: waits between reconnections of a follow that lost its scheduler, seconds (doubling, capped)
RECONNECT_FIRST_S, RECONNECT_MAX_S = 0.5, 8.0


def _event_line(e) -> str:
    return f"{e.seq:>6} {_when(e.at)} {e.kind:<22} {e.message}"


def cmd_events(args) -> int:
    """The newest --last events of the activity log (--all: every one after --after); with
    --follow, then live events until Ctrl-C (exit 130). A follow that loses its scheduler (a
    restart, a drain) says so on stderr and reconnects with backoff, resuming after the last event
    it printed, so nothing is shown twice or skipped. JSON: a list object, or with --follow a JSON
    object per line."""
    client = Client(STUBS["scheduler"], args.scheduler, timeout=args.timeout, security=args.security)
    seq, delay, last = args.after, RECONNECT_FIRST_S, 0 if args.all else args.last
    listed = []
    try:
        while True:
            try:
                stream = client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=seq, follow=args.follow,
                                                                             last=last),
                                       timeout=None if args.follow else args.timeout)
                for e in (r.event for r in stream):
                    if not args.follow:
                        listed.append(e)
                    elif args.json:
                        emit(_dict(e))
                    else:
                        _con().print(_event_line(e))
                    seq, delay, last = e.seq, RECONNECT_FIRST_S, 0
                if not args.follow:
                    return show_list(args, listed, "", lambda es: [_con().print(_event_line(e)) for e in es],
                                     after=seq)
                why = "the stream ended"
            except errors.OmpError as exc:
                code = EXIT.get(type(exc), 1)
                if not args.follow or code != 3:
                    return failed(args, exc, "scheduler", args.scheduler)
                why = f"{exc.code.name}: {str(exc)[:200]}"
            _con(stderr=True).print(f"[yellow]lost the scheduler at {args.scheduler} ({why}); reconnecting in "
                                    f"{delay:g} s, after event {seq}[/]")
            time.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


# ------------------------------------------------------------------------------------ promoter
def _word(enum, number: int) -> str:
    return enum.Name(number).split("_", 2)[-1].lower() if number else "-"


def _gate_rows(gates):
    for g in gates:
        yield ("pass" if g.passed else "FAIL", g.gate, g.detail)


def cmd_promote(args) -> int:
    """promote-check RUN (writes nothing; exit 0 when it would promote) and promote RUN."""
    check = args.command == "promote-check"
    request = ppb.PromoteCheckRequest(run_id=args.run_id) if check else ppb.PromoteRunRequest(
        run_id=args.run_id, actor=args.actor)
    r, rc = call(args, "promoter", "PromoteCheck" if check else "PromoteRun", request)
    if r is None:
        return rc
    r = r.decision

    def human(d):
        from rich.table import Table
        con = _con()
        con.print(f"run {d.run_id} of {d.campaign_id or '?'} ({d.environment}): "
                  f"[bold]{_word(ppb.PromotionOutcome, d.outcome)}[/]" + ("" if d.stored else " (check only: nothing "
                                                                                      "written)"), soft_wrap=True)
        t = Table(title="run gates")
        for col in ("", "gate", "detail"):
            t.add_column(col, overflow="fold")
        for row in _gate_rows(d.run_gates):
            t.add_row(*row)
        con.print(t)
        for c in d.candidates:
            failed = [g for g in c.gates if not g.passed]
            verdict = _word(ppb.PromotionOutcome, c.outcome) + (
                f" ({_word(ppb.EntryState, c.entry_state)})" if c.entry_state else "") + (
                " (already in the Hall of Fame: this run is linked as evidence)" if c.already_in else "")
            con.print(f"  {c.candidate_id} {c.genome_hash[:12]}: {verdict}", soft_wrap=True)
            for g in failed:
                con.print(f"      FAIL {g.gate}: {g.detail}", soft_wrap=True)
    out = show(args, r, human)
    return (0 if r.outcome == ppb.PROMOTION_OUTCOME_PROMOTED else 1) if check else out


def cmd_hof(args) -> int:
    sub = args.hof_command
    if sub == "list":
        state = enum_pb(ppb.EntryState, EntryState(args.state)) if args.state else 0
        r, rc = call(args, "promoter", "ListEntries", ppb.ListEntriesRequest(state=state, page_size=args.page_size))
        if r is None:
            return rc
        if args.json:       # the entries with their provenance fields
            return show_list(args, r.entries, r.next_page_token, None, total=r.total)
        from rich.table import Table
        t = Table(title=f"Hall of Fame ({r.total} entries)")
        for col in ("genome_hash", "state", "OOS Sharpe", "PBO", "DSR", "max DD", "run", "campaign", "promoted",
                    "rule"):
            t.add_column(col, overflow="fold")
        for e in r.entries:
            t.add_row(e.genome_hash[:12], _word(ppb.EntryState, e.state), f"{e.oos_sharpe:.2f}", f"{e.pbo:.2f}",
                      f"{e.dsr:.2f}", f"{e.max_drawdown:.1%}", e.run_id, e.campaign_id, _when(e.promoted_at), e.rule)
        _con().print(t)
        return 0
    if sub == "show":
        r, rc = call(args, "promoter", "GetEntry", ppb.GetEntryRequest(genome_hash=args.genome_hash))
        if r is None:
            return rc
        r = r.entry

        def human(e):
            con = _con()
            con.print(f"{e.genome_hash} [bold]{_word(ppb.EntryState, e.state)}[/]: {e.rule}", soft_wrap=True)
            for k in ("candidate_id", "run_id", "campaign_id", "config_hash", "git_sha", "snapshot_id", "environment",
                      "artifact_dir"):
                con.print(f"  {k}: {getattr(e, k)}", soft_wrap=True)
            con.print(f"  seeds: {list(e.seeds)}  promoted: {_when(e.promoted_at)}  evidence runs: "
                      f"{list(e.evidence_runs) or '-'}", soft_wrap=True)
            for h in e.history:
                con.print(f"  {_when(h.at)} {h.actor}: {_word(ppb.EntryState, h.from_state)} -> "
                          f"{_word(ppb.EntryState, h.to_state)}: {h.reason}", soft_wrap=True)
        return show(args, r, human)
    if sub == "packet":
        r, rc = call(args, "promoter", "RenderPacket", ppb.RenderPacketRequest(genome_hash=args.genome_hash))
        if r is None:
            return rc
        if args.json:
            return show(args, r, None)
        sys.stdout.write(r.markdown)
        return 0
    if sub == "set-state":
        r, rc = call(args, "promoter", "SetEntryState", ppb.SetEntryStateRequest(
            genome_hash=args.genome_hash, state=enum_pb(ppb.EntryState, EntryState(args.state)), actor=args.actor,
            reason=args.reason))
        return rc if r is None else show(args, r.entry, lambda e: _con().print(
            f"{e.genome_hash[:12]} is now {_word(ppb.EntryState, e.state)}"))
    if sub == "check":
        r, rc = call(args, "promoter", "CheckIntegrity", ppb.CheckIntegrityRequest(samples=args.samples, seed=args.seed,
                                                                                    actor=args.actor))
        if r is None:
            return rc
        if args.json:       # an object with a boolean ok
            print(json.dumps({"ok": r.ok, "items": [_dict(i) for i in r.items]}))
        else:
            sys.stdout.write(r.markdown)
        return 0 if r.ok else 1
    if sub == "revalidate":
        r, rc = call(args, "promoter", "Revalidate", ppb.RevalidateRequest(genome_hash=args.genome_hash,
                                                                           actor=args.actor))
        if r is None:
            return rc

        def human(r):
            for v in r.results:
                _con().print(f"{v.genome_hash[:12]} {'holds' if v.ok else '[red]flagged[/]'}: {v.detail}",
                             soft_wrap=True)
        show(args, r, human)
        return 0 if all(v.ok for v in r.results) else 1
    if sub == "sync":
        r, rc = call(args, "promoter", "SyncMirror", ppb.SyncMirrorRequest())
        if r is None:
            return rc
        show(args, r, lambda m: _con().print(
            "no mirror configured ([promotion] mirror_url)" if not m.configured else
            f"mirror: {m.pending} entries pending, oldest {m.lag_seconds:.0f} s; last full sync {_when(m.last_sync)}"
            + (f"; [red]{m.error}[/]" if m.error else ""), soft_wrap=True))
        return 0 if not r.error else 3
    return fail(args, f"unknown hof command {sub!r}", 2)


def cmd_seeds(args) -> int:
    if args.seeds_command == "register":
        r, rc = call(args, "promoter", "RegisterSeed", ppb.RegisterSeedRequest(
            campaign_id=args.campaign_id, seed=args.seed, actor=args.actor, reason=args.reason))
        return rc if r is None else show(args, r.seed, lambda s: _con().print(
            f"seed {s.seed} registered for {s.campaign_id}", soft_wrap=True))
    r, rc = call(args, "promoter", "ListSeeds", ppb.ListSeedsRequest(campaign_id=args.campaign_id))
    if r is None:
        return rc

    def human(seeds):
        from rich.table import Table
        t = Table(title="registered seeds")
        for col in ("campaign", "seed", "registered", "by", "reason"):
            t.add_column(col, overflow="fold")
        for s in seeds:
            t.add_row(s.campaign_id, str(s.seed), _when(s.registered_at), s.actor, s.reason)
        _con().print(t)
    return show_list(args, r.seeds, "", human)


# ------------------------------------------------------------------------------------ watchdog
def _incident_line(i) -> str:
    sev = wpb.Severity.Name(i.severity).removeprefix("SEVERITY_").replace("SEV", "SEV-")
    state = "open" if i.open else f"resolved {_when(i.resolved_at)}"
    return f"{i.id} {sev} {i.kind}{f' [{i.key}]' if i.key else ''} ({state}, x{i.occurrences}): {i.summary}"


def cmd_incidents(args) -> int:
    sub = args.incidents_command
    if sub == "list":
        r, rc = call(args, "watchdog", "ListIncidents", wpb.ListIncidentsRequest(open_only=args.open,
                                                                               page_size=args.page_size))
        if r is None:
            return rc

        def human(incidents):
            from rich.table import Table
            t = Table(title="incidents" + (" (open)" if args.open else ""))
            for col in ("id", "severity", "kind", "key", "state", "detected", "seen", "summary"):
                t.add_column(col, overflow="fold")
            for i in incidents:
                t.add_row(i.id, wpb.Severity.Name(i.severity).removeprefix("SEVERITY_"), i.kind, i.key,
                          "open" if i.open else "resolved", _when(i.detected_at), str(i.occurrences), i.summary)
            _con().print(t)
        return show_list(args, r.incidents, r.next_page_token, human)
    if sub == "show":
        if args.json:
            r, rc = call(args, "watchdog", "GetIncident", wpb.GetIncidentRequest(id=args.id))
            return rc if r is None else show(args, r.incident, None)
        r, rc = call(args, "watchdog", "RenderIncident", wpb.RenderIncidentRequest(id=args.id))
        if r is None:
            return rc
        sys.stdout.write(r.markdown)
        return 0
    if sub == "resolve":
        r, rc = call(args, "watchdog", "ResolveIncident", wpb.ResolveIncidentRequest(
            id=args.id, root_cause=args.root_cause, resolution=args.resolution, prevention=args.prevention or [],
            actor=args.actor))
        return rc if r is None else show(args, r.incident, lambda i: _con().print(_incident_line(i)))
    return fail(args, f"unknown incidents command {sub!r}", 2)


def cmd_resources(args) -> int:
    r, rc = call(args, "watchdog", "GetResources", wpb.GetResourcesRequest(history=args.history))
    if r is None:
        return rc

    def human(r):
        from rich.table import Table
        t = Table(title="resources (watchdog samples, newest last)")
        for col in ("taken", "cpu %", "memory available MB", "disk free GB"):
            t.add_column(col, overflow="fold")
        for s in [*r.history, r.latest] if r.HasField("latest") else []:
            t.add_row(_when(s.taken_at), f"{s.cpu_util_pct:.0f}", f"{s.mem_available_mb:.0f}",
                      ", ".join(f"{d.path}: {d.free_gb:.2f}" for d in s.disks))
        _con().print(t)
    return show(args, r, human)


# ------------------------------------------------------------------------------------ health
def _serving(address: str, timeout: float, security) -> str:
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    import grpc
    with security.channel(address) as ch:
        try:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError as exc:
            return f"unreachable ({exc.code().name})"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)


def _ask(args, service: str, method: str, request):
    """One RPC for the health check: (answer, None) or (None, why), printing nothing."""
    client = Client(STUBS[service], getattr(args, service), timeout=args.timeout, security=args.security)
    try:
        return client.call(method, request), None
    except errors.OmpError as exc:
        return None, f"{method} failed ({exc.code.name}): {str(exc)[:200]}"
    finally:
        client.close()


def cmd_health(args) -> int:
    """The playbook's health check: each service's gRPC health, the daemon, the scheduler's last
    tick, the disk as the watchdog last saw it (and how old that sample is), open SEV-0 incidents.
    Exit 0 only when all is well (a timer restarts the services otherwise); a check that could not
    be made counts as failed. The daemon's state is reported, not judged."""
    checks: dict[str, dict] = {}
    for service in ("scheduler", "miner", "watchdog", "promoter"):
        status = _serving(getattr(args, service), args.timeout, args.security)
        checks[service] = {"ok": status == "SERVING", "detail": f"{getattr(args, service)}: {status}"}
    now = SystemClock().now()
    st, why = _ask(args, "scheduler", "GetStatus", spb.GetStatusRequest())
    if st is None:
        checks["last_tick"] = {"ok": False, "detail": why}
    else:
        st = st.status
        age = now - (st.last_tick_at.seconds + st.last_tick_at.nanos / 1e9) if st.last_tick_at.seconds else None
        checks["daemon"] = {"ok": True, "detail": _enum(pb.DaemonState, st.state, "DAEMON_STATE_")
                            + f", data {_enum(pb.DataReadiness, st.data_readiness, 'DATA_READINESS_')}"}
        # a throttled loop ticks less often: the limit is past its interval now
        limit = args.max_tick_age + st.tick_interval_seconds
        checks["last_tick"] = {"ok": age is not None and age < limit,
                               "detail": "never" if age is None else f"{age:.0f} s ago (at most {limit:g})"}
    r, why = _ask(args, "watchdog", "GetResources", wpb.GetResourcesRequest())
    if r is None or not r.HasField("latest") or not r.latest.disks:
        checks["disk"] = {"ok": False, "detail": why or "the watchdog has no sample yet"}
    else:
        worst = min(r.latest.disks, key=lambda d: d.free_gb)
        age = now - (r.latest.taken_at.seconds + r.latest.taken_at.nanos / 1e9)
        checks["disk"] = {"ok": worst.free_gb >= args.min_disk_gb and age < args.max_tick_age,
                          "detail": f"{worst.path}: {worst.free_gb:.1f} GB free (at least {args.min_disk_gb:g}), "
                                    f"sampled {age:.0f} s ago"}
    sev0, total, token, why = [], 0, "", None
    while True:
        page, why = _ask(args, "watchdog", "ListIncidents", wpb.ListIncidentsRequest(open_only=True, page_size=200,
                                                                                    page_token=token))
        if page is None:
            break
        total += len(page.incidents)
        sev0 += [i.id for i in page.incidents if i.severity == wpb.SEVERITY_SEV0]
        token = page.next_page_token
        if not token:
            break
    checks["incidents"] = ({"ok": False, "detail": why} if why else
                           {"ok": not sev0, "detail": f"{total} open" + (f", SEV-0: {', '.join(sev0)}" if sev0 else "")})
    healthy = all(c["ok"] for c in checks.values())
    if args.json:
        print(json.dumps({"healthy": healthy, "checks": checks}))
    else:
        from rich.table import Table
        t = Table(title="OMP health: " + ("[green]healthy[/]" if healthy else "[red]NOT healthy[/]"))
        for col in ("check", "", "detail"):
            t.add_column(col, overflow="fold")
        for name, c in checks.items():
            t.add_row(name, "[green]ok[/]" if c["ok"] else "[red]FAIL[/]", c["detail"])
        _con().print(t)
    if args.restart_after:
        return _count_failures(Path(args.failures_file), healthy, args.restart_after)
    return 0 if healthy else 1


#: ``omp health --restart-after N``: the services stayed unhealthy N checks in a row (EX_TEMPFAIL)
EXIT_RESTART = 75


def _count_failures(path: Path, healthy: bool, limit: int) -> int:
    """The playbook's rule 9, for a timer: count unhealthy checks in a row in ``path``; at
    ``limit`` start the count again and exit EXIT_RESTART (deploy/systemd/omp-health.service then
    restarts the services), else 0 when healthy and 1 when not."""
    from omp_core.atomic import write_text
    try:
        count = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        count = 0
    count = 0 if healthy else count + 1
    restart = count >= limit
    write_text(path, f"{0 if restart else count}\n")
    if restart:
        print(f"unhealthy {count} checks in a row: restart the services", file=sys.stderr)
        return EXIT_RESTART
    return 0 if healthy else 1


# ------------------------------------------------------------------------------------ retention
def cmd_cleanup(args) -> int:
    """Retention of run folders: ``--dry-run`` prints the plan with sizes, without it the plan is
    carried out; ``--archives`` lists the compressed folders, ``--restore run_<id>`` unpacks one."""
    if args.archives:
        r, rc = call(args, "watchdog", "ListArchives", wpb.ListArchivesRequest())
        return rc if r is None else show_list(args, list(r.paths), "", lambda paths: [_con().print(p) for p in paths])
    if args.restore:
        r, rc = call(args, "watchdog", "RestoreRun", wpb.RestoreRunRequest(run_folder=args.restore, actor=args.actor))
        return rc if r is None else show(args, r, lambda r: _con().print(f"restored {r.path}", soft_wrap=True))
    r, rc = call(args, "watchdog", "Cleanup", wpb.CleanupRequest(dry_run=args.dry_run, actor=args.actor))
    if r is None:
        return rc

    def human(r):
        from rich.table import Table
        t = Table(title="retention plan (nothing done)" if r.dry_run else "retention")
        for col in ("action", "folder", "campaign", "MB", "age (days)", "why"):
            t.add_column(col, overflow="fold")
        for a in r.actions:
            t.add_row(a.kind + (" [red]FAILED[/]" if a.error else ""), a.path, a.campaign_id, f"{a.bytes / 2**20:.1f}",
                      f"{a.age_days:.1f}", a.error or a.why)
        _con().print(t)
        if not r.dry_run:
            _con().print(f"freed {r.freed_bytes / 2**30:.2f} GB; compressed {r.compressed_bytes / 2**30:.2f} GB")
    code = show(args, r, human)
    return 1 if any(a.error for a in r.actions) else code


def cmd_ops_log(args) -> int:
    r, rc = call(args, "watchdog", "GetOpsLog", wpb.GetOpsLogRequest(date=args.date))
    if r is None:
        return rc
    if args.json:
        doc = _dict(r)
        doc.pop("markdown", None)
        print(json.dumps(doc))
        return 0
    sys.stdout.write(r.markdown)
    return 0


# ------------------------------------------------------------------------------------ audit
def cmd_audit(args) -> int:
    """The audit log of every service: who really called (the authenticated principal), what, on
    whose behalf they said, and how it ended; oldest first, one page (--all: every page)."""
    records, token = [], ""
    while True:
        r, rc = call(args, "scheduler", "ListAudit", spb.ListAuditRequest(
            page_size=args.page_size, page_token=token, principal=args.principal or "", refused_only=args.refused))
        if r is None:
            return rc
        records += r.records
        token = r.next_page_token
        if not (args.all and token):
            break
    if args.json:
        return show_list(args, records, token, None)
    from rich.table import Table
    t = Table(title="audit log (oldest first)")
    for col in ("#", "at (UTC)", "principal", "role", "call", "target", "on behalf of", "outcome", "reason"):
        t.add_column(col, overflow="fold")
    for x in records:
        t.add_row(str(x.id), _when(x.at), x.principal, x.role, f"{x.service}.{x.method}", x.target, x.on_behalf_of,
                  x.outcome, x.reason)
    _con().print(t)
    if token:
        _con().print(f"more: --all, or the next page after #{records[-1].id}", highlight=False)
    return 0

"""Who may call what: the one table of every RPC of every service and the roles allowed to call it.

Four roles. Three are people's, each including the one before: ``viewer`` reads and watches,
``operator`` runs the mining (the queue, the daemon, cancels, promote-checks, incidents), ``admin``
changes what is hard to undo (removing campaigns, data readiness, Hall of Fame states, the seed
registry, retention). The fourth, ``service``, is a service's own identity: its principal is the
service's name (``miner``, or ``miner:host-2`` for one of several), and a rule names the services
that may make each internal call (only the miner reports runs, only the scheduler starts them).
Services may also read whatever a viewer may.

The server wrapper (services/common/server.py) checks this table before every call, so a method
without an entry is refused for everyone, and a test fails until it has one. ``changes`` marks the
calls that change something: each writes one audit record (services/common/storage/audit.py),
refusals included (of a service's periodic reports, only the refusals). README.md shows the same table; a test keeps the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("viewer", "operator", "admin", "service")
PEOPLE = ("viewer", "operator", "admin")
SERVICES = ("scheduler", "miner", "promoter", "watchdog")


@dataclass(frozen=True)
class Rule:
    #: the least role of a person that may call (None: no person may)
    role: str | None
    #: the services that may call besides (their principals have the role ``service``)
    services: frozenset[str] = frozenset()
    #: the call changes something: it is audited
    changes: bool = False
    #: a service's periodic report (a heartbeat, progress): only its refusals are audited, or
    #: the log would hold one row per run every few seconds
    heartbeat: bool = False

    def allows(self, role: str, service: str = "") -> bool:
        if role == "service":
            return service in self.services
        return self.role is not None and role in PEOPLE and PEOPLE.index(role) >= PEOPLE.index(self.role)

    @property
    def who(self) -> str:
        """The rule in words, as the README's table and a refusal say it."""
        people = f"{self.role}+" if self.role in ("viewer", "operator") else (self.role or "")
        services = ("every service" if self.services == frozenset(SERVICES)
                    else ", ".join(f"service:{s}" for s in sorted(self.services)))
        return ", ".join(x for x in (people, services) if x)


ALL = frozenset(SERVICES)


@dataclass(frozen=True)
class Principal:
    """Who makes a call, as authentication established it: a name and a role of ROLES ("" when
    authentication is off and every caller is anonymous)."""
    name: str
    role: str = ""


def _read(*, services=ALL) -> Rule:
    return Rule("viewer", frozenset(services))


def _change(role: str | None, *services: str) -> Rule:
    return Rule(role, frozenset(services), changes=True)


S, M, P, W = "omp.v1.SchedulerService", "omp.v1.MinerService", "omp.v1.PromoterService", "omp.v1.WatchdogService"

#: full method name -> rule: every RPC of every service (a test checks the protos against it)
RULES: dict[str, Rule] = {
    f"/{S}/GetStatus": _read(),
    f"/{S}/StartDaemon": _change("operator"),
    f"/{S}/StopDaemon": _change("operator"),
    f"/{S}/PauseDaemon": _change("operator", "watchdog"),
    f"/{S}/ResumeDaemon": _change("operator", "watchdog"),
    f"/{S}/ThrottleDaemon": _change("operator", "watchdog"),
    f"/{S}/SetDataReadiness": _change("admin", "watchdog"),
    f"/{S}/ListCampaigns": _read(),
    f"/{S}/GetCampaign": _read(),
    f"/{S}/AddCampaign": _change("operator"),
    f"/{S}/UpdateCampaign": _change("operator"),
    f"/{S}/RemoveCampaign": _change("admin"),
    f"/{S}/SetCampaignEnabled": _change("operator"),
    f"/{S}/ReorderCampaign": _change("operator"),
    f"/{S}/RequeueCampaign": _change("operator"),
    f"/{S}/ImportQueue": _change("operator"),
    f"/{S}/ExportQueue": _read(),
    f"/{S}/ListQueueChanges": _read(),
    f"/{S}/ListAudit": Rule("operator"),
    f"/{S}/RegisterMiner": Rule(None, frozenset({"miner"}), changes=True, heartbeat=True),
    f"/{S}/ReportProgress": Rule(None, frozenset({"miner"}), changes=True, heartbeat=True),
    f"/{S}/ReportRunResult": _change(None, "miner"),
    f"/{S}/WatchEvents": _read(),

    f"/{M}/ValidateConfig": _read(),
    f"/{M}/StartRun": _change(None, "scheduler"),
    f"/{M}/GetRun": _read(),
    f"/{M}/ListRuns": _read(),
    f"/{M}/CancelRun": _change("operator", "watchdog"),
    f"/{M}/WatchRun": _read(),
    f"/{M}/ExportTopCandidates": _read(),

    f"/{P}/PromoteRun": _change("operator", "scheduler"),
    f"/{P}/PromoteCheck": Rule("operator"),
    f"/{P}/GetDecision": _read(),
    f"/{P}/ListEntries": _read(),
    f"/{P}/GetEntry": _read(),
    f"/{P}/SetEntryState": _change("admin"),
    f"/{P}/RenderPacket": _read(),
    f"/{P}/SyncMirror": _change("operator"),
    f"/{P}/CheckIntegrity": _change("operator"),
    f"/{P}/ListSeeds": _read(),
    f"/{P}/RegisterSeed": _change("admin"),
    f"/{P}/Revalidate": _change("operator"),

    f"/{W}/OpenIncident": _change("operator", "scheduler", "miner", "promoter"),
    f"/{W}/GetIncident": _read(),
    f"/{W}/ListIncidents": _read(),
    f"/{W}/ResolveIncident": _change("operator"),
    f"/{W}/RenderIncident": _read(),
    f"/{W}/GetResources": _read(),
    f"/{W}/Cleanup": _change("admin"),
    f"/{W}/ListArchives": _read(),
    f"/{W}/RestoreRun": _change("operator"),
    f"/{W}/GetOpsLog": _read(),
}


def service_of(principal: str) -> str:
    """The service a service principal speaks for: ``miner`` for ``miner`` and ``miner:host-2``."""
    return principal.split(":", 1)[0]


def rule_of(method: str) -> Rule | None:
    return RULES.get(method)


def markdown_table() -> str:
    """The table as README.md shows it."""
    lines = ["| RPC | who may call | audited |", "| --- | --- | --- |"]
    for method, rule in RULES.items():
        service, name = method.strip("/").split("/")
        audited = "refusals" if rule.heartbeat else "yes" if rule.changes else ""
        lines.append(f"| `{service.split('.')[-1]}.{name}` | {rule.who} | {audited} |")
    return "\n".join(lines)

"""The playbook's ``campaign_queue.json``: export the queue, import one (every entry checked before
anything is written; ids already present are skipped). The document travels as a JSON object (a
``google.protobuf.Struct`` on the wire); reading the file is the client's."""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

from omp_services.common.clock import iso
from omp_services.common.errors import InvalidArgument
from omp_services.scheduler.campaign_queue import CampaignQueue
from omp_services.scheduler.context import SchedulerContext
from omp_services.scheduler.entities import Campaign, CampaignSpec

VERSION = "1.0"
KEYS = {"id", "name", "config_path", "market", "priority", "enabled", "repeat", "tags", "created_at"}
#: campaigns one import may carry (about 1 MB of JSON): its transaction, and its answer, stay short;
#: a larger queue is imported in parts (``omp queue import`` splits it)
MAX_IMPORT = 5000


class QueueFile:
    def __init__(self, ctx: SchedulerContext, queue: CampaignQueue):
        self.ctx, self.queue = ctx, queue

    def export(self, offset: int = 0, limit: int = 1000) -> tuple[dict, int]:
        """One page of the queue, in queue order, as a complete document; and the queue's size."""
        campaigns, total = self.queue.list(offset=offset, limit=limit)
        doc = {"version": VERSION, "updated_at": iso(self.ctx.now(), "auto"), "campaigns": [
            {"id": c.id, "name": c.name, "config_path": c.config_path, "market": c.market, "priority": c.priority,
             "enabled": c.enabled, "repeat": c.repeat, "tags": list(c.tags), "created_at": iso(c.created_at, "auto")}
            for c in campaigns]}
        return doc, total

    def parse(self, doc: dict) -> list[CampaignSpec]:
        if not isinstance(doc, dict) or not isinstance(doc.get("campaigns"), list):
            raise InvalidArgument("queue must be an object with a 'campaigns' array")
        if len(doc["campaigns"]) > MAX_IMPORT:
            raise InvalidArgument(f"queue.campaigns: at most {MAX_IMPORT} per import, got "
                                  f"{len(doc['campaigns'])} (import the queue in parts)")
        if doc.get("version", VERSION) != VERSION:
            raise InvalidArgument(f"queue.version must be {VERSION!r}, got {doc.get('version')!r}")
        specs = []
        for i, e in enumerate(doc["campaigns"]):
            where = f"queue.campaigns[{i}]"
            if not isinstance(e, dict):
                raise InvalidArgument(f"{where} must be an object")
            extra = sorted(set(e) - KEYS)
            if extra:
                raise InvalidArgument(f"{where}.{extra[0]}: unknown key")
            spec = CampaignSpec(id=str(e.get("id", "")), name=str(e.get("name", "")),
                                config_path=str(e.get("config_path", "")), market=str(e.get("market", "us")),
                                priority=_int(e.get("priority", 10), f"{where}.priority"),
                                enabled=_bool(e.get("enabled", True), f"{where}.enabled"),
                                repeat=_bool(e.get("repeat", False), f"{where}.repeat"),
                                tags=tuple(_strs(e.get("tags", []), f"{where}.tags")))
            specs.append(self.queue.check_spec(spec, where))
        ids = [s.id for s in specs if s.id]
        twice = sorted(i for i, n in Counter(ids).items() if n > 1)     # one pass: 5,000 ids stay cheap
        if twice:
            raise InvalidArgument(f"queue.campaigns: the id {twice[0]!r} appears twice")
        return specs

    def import_(self, doc: dict, actor: str, reason: str = "", request_id: str = "") -> tuple[list[Campaign], int]:
        """Add every campaign of the document; ids already present are skipped. With a
        ``request_id``, entries without an id get one derived from it and their place in the
        document, so a retried import adds nothing twice."""
        specs = self.parse(doc)
        if request_id:
            specs = [s if s.id else replace(s, id=_derived_id(request_id, i)) for i, s in enumerate(specs)]
        now = self.ctx.now()
        added, skipped = [], 0
        with self.ctx.store.tx() as tx:
            for s in specs:
                if s.id and tx.get(s.id, include_removed=True) is not None:
                    skipped += 1
                    continue
                added.append(self.queue.insert(tx, s, actor, reason, now, action="import"))
            tx.log_event(now, "queue.imported", actor, f"queue import: {len(added)} added, {skipped} skipped")
        self.ctx.committed(wake=True)
        return added, skipped


def _derived_id(request_id: str, index: int) -> str:
    return "camp_" + hashlib.sha256(f"{request_id}\0{index}".encode()).hexdigest()[:16]


def _int(v, field):
    if not isinstance(v, int) or isinstance(v, bool):
        raise InvalidArgument(f"{field} must be an integer, got {v!r}")
    return v


def _bool(v, field):
    if not isinstance(v, bool):
        raise InvalidArgument(f"{field} must be true or false, got {v!r}")
    return v


def _strs(v, field):
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise InvalidArgument(f"{field} must be an array of strings, got {v!r}")
    return v

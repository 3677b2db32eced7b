"""The storage layer on both databases: Core statements compiled once, run in one transaction."""
import threading

import pytest
from sqlalchemy import bindparam, insert, select, update

from services.common.storage.db import Database, Statement
from services.common.storage.models import QueueChangeRow, RunRow

RUNS = RunRow.__table__
CHANGES = QueueChangeRow.__table__
RUN_COLS = ("run_id", "campaign_id", "attempt", "status", "config_path", "config_hash", "run_dir", "pid",
            "proc_started", "progress", "started_at", "updated_at", "ended_at", "error", "reported")
INSERT_RUN = Statement(insert(RUNS).values({c: bindparam(c) for c in RUN_COLS}))
GET_RUN = Statement(select(*(RUNS.c[c] for c in RUN_COLS)).where(RUNS.c.run_id == bindparam("key")))
SET_STATUS = Statement(update(RUNS).where(RUNS.c.run_id == bindparam("key")).values(status=bindparam("status")))
COUNT_REPORTED = Statement(select(RUNS.c.run_id).where(RUNS.c.reported.is_(True)).order_by(RUNS.c.run_id)
                           .limit(bindparam("limit")))


def a_run(run_id="r1", **over):
    row = dict(run_id=run_id, campaign_id="c", attempt=1, status="running", config_path="a/b.toml",
               config_hash="h", run_dir="/x", pid=7, proc_started=1.5, progress={"best_sharpe": 1.25, "seeds": [1, 2]},
               started_at=1795680744.178123, updated_at=2.0, ended_at=None, error="", reported=True)
    row.update(over)
    return row


@pytest.fixture
def db(database_url):
    d = Database(database_url)
    d.migrate()
    yield d
    d.dispose()


def test_values_come_back_with_their_python_types(db):
    with db.tx() as tx:
        tx.run(INSERT_RUN, **a_run())
    with db.tx(write=False) as tx:
        row = dict(zip(RUN_COLS, tx.first(GET_RUN, key="r1")))
    assert row == a_run()
    assert type(row["reported"]) is bool and type(row["attempt"]) is int and type(row["started_at"]) is float
    with db.tx(write=False) as tx:
        assert tx.first(GET_RUN, key="nope") is None
        assert [tuple(r) for r in tx.all(COUNT_REPORTED, limit=5)] == [("r1",)]


def test_a_transaction_that_raises_changes_nothing(db):
    with db.tx() as tx:
        tx.run(INSERT_RUN, **a_run())
    with pytest.raises(RuntimeError), db.tx() as tx:
        assert tx.run(SET_STATUS, key="r1", status="failed") == 1
        tx.run(INSERT_RUN, **a_run("r2", attempt=2))
        raise RuntimeError("boom")
    with db.tx(write=False) as tx:
        assert tx.first(GET_RUN, key="r1")[3] == "running"
        assert tx.first(GET_RUN, key="r2") is None


def test_a_constraint_violation_rolls_back_the_whole_transaction(db):
    with db.tx() as tx:
        tx.run(INSERT_RUN, **a_run())
    with pytest.raises(Exception, match="(?i)unique|duplicate"), db.tx() as tx:
        tx.run(INSERT_RUN, **a_run("r2", attempt=2))
        tx.run(INSERT_RUN, **a_run("r3", attempt=1))       # same (campaign, attempt) as r1
    with db.tx(write=False) as tx:
        assert tx.first(GET_RUN, key="r2") is None


def test_a_missing_parameter_is_named_and_nothing_runs(db):
    with pytest.raises(KeyError, match="'status'"), db.tx() as tx:
        tx.run(SET_STATUS, key="r1")


def test_json_null_and_sql_null_both_read_as_none(db):
    ins = Statement(insert(CHANGES).values({c: bindparam(c) for c in
                                            ("campaign_id", "action", "actor", "at", "before", "after", "reason")}))
    sel = Statement(select(CHANGES.c.before, CHANGES.c.after).where(CHANGES.c.campaign_id == bindparam("key")))
    with db.tx() as tx:
        tx.run(ins, campaign_id="c", action="add", actor="a", at=1.0, before=None, after={"tags": ["x"]}, reason="")
        assert list(tx.first(sel, key="c")) == [None, {"tags": ["x"]}]


def test_writers_from_many_threads_lose_nothing(db):
    def writer(k):
        for j in range(20):
            with db.tx() as tx:
                tx.run(INSERT_RUN, **a_run(f"w{k}-{j}", attempt=k * 100 + j))
    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.tx(write=False) as tx:
        assert len(tx.all(COUNT_REPORTED, limit=1000)) == 160


def test_render_time_parameters_are_refused_when_compiled(db):
    stmt = Statement(select(RUNS.c.run_id).where(RUNS.c.run_id.in_(bindparam("ids", expanding=True))))
    with pytest.raises(ValueError, match="render-time"), db.tx(write=False) as tx:
        tx.all(stmt, ids=["a"])

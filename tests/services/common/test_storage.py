"""The storage layer on both databases: Core statements compiled once, run in one transaction;
group commits on SQLite."""
import asyncio
import threading

import grpc
import pytest
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.util.concurrency import greenlet_spawn

from omp_services.migrations import migrate
from omp_services.common.storage.db import CommitFailed, Database, Statement
from omp_services.miner.tables import RunRow
from omp_services.scheduler.tables import QueueChangeRow

from helpers_services import ADD_CHILD, COMMIT_CHECKED, wait_for

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
        assert tx.touched(SET_STATUS, key="r1", status="failed") == 1
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


def test_an_index_for_a_table_the_statement_does_not_read_is_refused(db):
    stray = Statement(select(RUNS.c.run_id), sqlite_index=("campaigns", "ix_campaigns_queue"))
    if db.sqlite:
        with pytest.raises(ValueError, match="no FROM campaigns"):
            stray.compiled(db.dialect)
    else:
        assert "INDEXED BY" not in stray.compiled(db.dialect).sql      # SQLite's hint only


# ---------------------------------------------------------------------------- group commits (SQLite)


@pytest.fixture
def lite(tmp_path):
    d = Database(f"sqlite:///{tmp_path}/group.db")
    migrate(d)
    COMMIT_CHECKED.create_all(d.engine)
    yield d
    d.dispose()


def on_loop(db, *calls, observe=None):
    """Each call as an asyncio task of its own (as the server runs them), all started in one turn of
    a loop on a thread of its own whose writes are grouped; what each call's ``pending`` gave (the
    number of calls its COMMIT answered), or its exception."""
    async def main():
        db.serve_on_loop(asyncio.get_running_loop(), threading.get_ident(), observe)

        async def call(fn):
            await greenlet_spawn(fn)        # as services/common/server.py runs a call on its loop
            waiting = db.pending()
            return await waiting if waiting is not None else None
        return await asyncio.gather(*(call(fn) for fn in calls), return_exceptions=True)
    out = []
    loop_thread = threading.Thread(target=lambda: out.append(asyncio.run(main())))
    loop_thread.start()
    loop_thread.join()
    return out[0]


def row(run_id):
    return a_run(run_id, campaign_id=run_id)


def committed(db, run_id) -> bool:
    """Read on a thread of its own, as another client would: only what is committed."""
    out = []

    def read():
        with db.tx(write=False) as tx:
            out.append(tx.first(GET_RUN, key=run_id) is not None)
    t = threading.Thread(target=read)
    t.start()
    t.join()
    return out[0]


def test_the_writes_of_one_turn_share_one_commit_and_are_answered_after_it(lite):
    seen = {}

    def writer(run_id):
        def fn():
            with lite.tx() as tx:
                tx.run(INSERT_RUN, **row(run_id))
            with lite.tx(write=False) as tx:            # the same call reads its own write
                seen[run_id] = tx.first(GET_RUN, key=run_id) is not None
        return fn

    def reader():
        with lite.tx(write=False) as tx:                # another call: only what is committed
            seen["reader"] = tx.first(GET_RUN, key="r1") is not None

    assert on_loop(lite, writer("r1"), writer("r2"), reader, writer("r3")) == [3, 3, None, 3]
    assert seen == {"r1": True, "r2": True, "reader": False, "r3": True}
    assert all(committed(lite, r) for r in ("r1", "r2", "r3"))


def test_a_transaction_that_raises_in_a_group_leaves_the_others_alone(lite):
    def good():
        with lite.tx() as tx:
            tx.run(INSERT_RUN, **row("ok"))

    def bad():
        with lite.tx() as tx:
            tx.run(INSERT_RUN, **row("bad"))
            tx.run(INSERT_RUN, **row("ok"))           # a duplicate key: this transaction only
    first, second = on_loop(lite, good, bad)
    assert first == 2 and isinstance(second, Exception) and "UNIQUE" in str(second)   # both joined
    assert committed(lite, "ok") and not committed(lite, "bad")


def test_a_failed_commit_fails_every_call_of_its_group_and_changes_nothing(lite):
    after = []

    def writer(run_id):
        def fn():
            with lite.tx() as tx:
                tx.run(INSERT_RUN, **row(run_id))
            lite.on_commit(lambda: after.append(run_id))
        return fn

    def orphan():
        with lite.tx() as tx:
            tx.run(ADD_CHILD, id=1, parent=99)          # no parent 99: the COMMIT is refused
    commits = []
    results = on_loop(lite, writer("a"), orphan, writer("b"),
                      observe=lambda calls, seconds, failed: commits.append((calls, seconds >= 0, failed)))
    assert all(isinstance(r, CommitFailed) for r in results), results
    assert commits == [(3, True, True)]                 # one COMMIT for the three calls, and it failed
    assert "FOREIGN KEY" in str(results[0]) and CommitFailed.code == grpc.StatusCode.UNAVAILABLE
    assert after == [] and not committed(lite, "a") and not committed(lite, "b")
    # the write lock was given back: the next group and a plain writer both go through
    assert on_loop(lite, writer("c")) == [1]
    with lite.tx() as tx:
        tx.run(INSERT_RUN, **row("d"))
    assert after == ["c"] and committed(lite, "c") and committed(lite, "d")


def test_after_commit_callbacks_run_once_the_data_is_committed(lite):
    when = []

    def fn():
        with lite.tx() as tx:
            tx.run(INSERT_RUN, **row("x"))
        lite.on_commit(lambda: when.append(committed(lite, "x")))
        when.append("behaviour done")
    assert on_loop(lite, fn) == [1]
    assert when == ["behaviour done", True]
    lite.on_commit(lambda: when.append("outside a group: at once"))
    assert when[-1] == "outside a group: at once"


def test_a_writer_on_another_thread_waits_for_the_open_group_and_loses_nothing(lite):
    done = threading.Event()

    def other_thread():
        with lite.tx() as tx:                           # blocks while the group holds the lock
            tx.run(INSERT_RUN, **row("thread"))
        done.set()

    def fn():
        with lite.tx() as tx:
            tx.run(INSERT_RUN, **row("loop"))
        threading.Thread(target=other_thread).start()
        assert not done.wait(0.2)                       # the group's COMMIT has not run yet
    assert on_loop(lite, fn) == [1]
    assert done.wait(10)
    assert committed(lite, "loop") and committed(lite, "thread")


def test_only_sqlite_groups_commits(database_url, db):
    def fn():
        with db.tx() as tx:
            tx.run(INSERT_RUN, **row("one"))
    # PostgreSQL commits at once (its server groups WAL flushes): nothing to wait for
    assert on_loop(db, fn) == ([1] if database_url.startswith("sqlite") else [None])
    assert committed(db, "one")


def test_postgresql_reads_run_outside_a_transaction_and_writes_inside_one(pg_url):
    """A read saves BEGIN and COMMIT (two round trips; at READ COMMITTED each statement sees its own
    snapshot anyway); a write is one transaction; the pooled connection goes back as it was."""
    from psycopg.pq import TransactionStatus
    from sqlalchemy import select, literal
    from omp_services.common.storage.db import Database
    from omp_services.common.storage.statements import Statement
    one = Statement(select(literal(1)))
    db = Database(pg_url, pool_size=1)
    try:
        for _ in range(2):                                  # the same pooled connection, twice
            with db.tx(write=False) as tx:
                tx.scalar(one)
                assert tx.cur.connection.info.transaction_status == TransactionStatus.IDLE
            with db.tx() as tx:
                tx.scalar(one)
                assert tx.cur.connection.info.transaction_status == TransactionStatus.INTRANS
    finally:
        db.dispose()


def test_postgresql_writes_are_pipelined_and_a_count_that_is_asked_for_is_waited_for(pg_url):
    """A write's statements go out without waiting for each result (pipeline mode: one round trip
    where there were one per statement); a statement whose count matters (``touched``) waits for
    it; the pooled connection goes back out of pipeline mode, and a read never enters it."""
    from psycopg.pq import PipelineStatus
    db = Database(pg_url, pool_size=1)
    migrate(db)
    try:
        with db.tx() as tx:
            assert tx.cur.connection.pgconn.pipeline_status != PipelineStatus.OFF
            tx.run(INSERT_RUN, **a_run())
            assert tx.touched(SET_STATUS, key="r1", status="failed") == 1
            assert tx.touched(SET_STATUS, key="nope", status="failed") == 0
        with db.tx(write=False) as tx:          # the same pooled connection
            assert tx.cur.connection.pgconn.pipeline_status == PipelineStatus.OFF
            assert tx.first(GET_RUN, key="r1")[3] == "failed"
    finally:
        db.dispose()


@pytest.mark.parametrize("where", ["blocking", "on the loop"])
def test_a_read_after_pipelined_writes_gets_its_own_rows_when_their_results_arrive_while_it_is_sent(pg_url, where):
    """The server is held up (pg_sleep) while a thousand writes queue behind it; their results
    then wait on the socket, and the read's own send reads them in. The read got a write's result
    ("the last operation didn't produce records", seen once in CI under load) until it synced.
    The same on psycopg's blocking connection and on the loop's asyncio one."""
    from sqlalchemy import func
    db = Database(pg_url, pool_size=1)
    migrate(db)
    nap = Statement(select(func.pg_sleep(0.3)))

    def writes_then_reads():
        with db.tx() as tx:
            tx.run(nap)
            for k in range(1000):
                tx.run(INSERT_RUN, **a_run(f"r{k}", attempt=k))
            # the server has done the writes (it waits for more input) and sent most of their results
            pid = tx.cur.connection.info.backend_pid
            wait_for(lambda: _waits_for_its_client_after(pg_url, pid, "INSERT INTO runs"), timeout=30,
                     what="the writes")
            assert tuple(tx.first(GET_RUN, key="r7")[:3]) == ("r7", "c", 7)
            assert len(tx.all(COUNT_REPORTED, limit=2000)) == 1000
    try:
        if where == "blocking":
            writes_then_reads()
        else:
            assert on_loop(db, writes_then_reads) == [None]
    finally:
        db.dispose()


def _waits_for_its_client_after(pg_url, pid: int, statement: str) -> bool:
    """Whether backend ``pid`` has run ``statement`` (its last one) and waits for more input, as
    pg_stat_activity says (on a connection of its own). Inside a pipeline it stays "active"
    until a Sync: what it waits on says it."""
    import psycopg
    admin = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    try:
        row = admin.execute("SELECT wait_event, query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
        return row is not None and row[0] == "ClientRead" and row[1].startswith(statement)
    finally:
        admin.close()


def _kill(pg_url, pid: int) -> None:
    """Ends backend ``pid`` as an operator's pg_terminate_backend (or a crash of it) would."""
    import psycopg
    admin = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
    try:                                    # not `with`: its end would call the commit patched below
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    finally:
        admin.close()


def _commit_losing_its_connection(monkeypatch, pg_url, committed: bool, green: bool = False):
    """psycopg's COMMIT, with the connection ended by the server just after it committed (its
    answer lost) or just before. Random kills under load hit both (a fault probe saw 27 of one
    in three minutes); here each is made to happen every time."""
    import psycopg
    cls = psycopg.AsyncConnection if green else psycopg.Connection
    real = cls.commit

    if green:
        async def commit(self):
            if committed:
                await real(self)
                _kill(pg_url, self.info.backend_pid)
                await self.execute("SELECT 1")      # the server is gone: raises, the connection broken
            else:
                _kill(pg_url, self.info.backend_pid)
                await real(self)
    else:
        def commit(self):
            if committed:
                real(self)
                _kill(pg_url, self.info.backend_pid)
                self.execute("SELECT 1")
            else:
                _kill(pg_url, self.info.backend_pid)
                real(self)
    monkeypatch.setattr(cls, "commit", commit)


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not committed"])
def test_a_commit_that_loses_its_connection_is_settled_by_asking_the_server(pg_url, monkeypatch, caplog, committed):
    """A COMMIT whose answer is lost left the caller told "unavailable, nothing happened" when the
    change was in (a fault probe: a retried reorder logged twice). The server is asked on another
    connection (pg_xact_status of the transaction's id): committed, the transaction ends as if
    COMMIT had answered; not, the caller hears DatabaseUnavailable as before. Either way the broken
    connection is dropped, not handed to the pool's reset (which failed on it and logged a
    traceback: hundreds a minute in the probe)."""
    from omp_services.common.errors import DatabaseUnavailable
    db = Database(pg_url)
    migrate(db)
    _commit_losing_its_connection(monkeypatch, pg_url, committed)
    try:
        if committed:
            with db.tx() as tx:
                tx.run(INSERT_RUN, **a_run("r1"))
        else:
            with pytest.raises(DatabaseUnavailable, match="unavailable"):
                with db.tx() as tx:
                    tx.run(INSERT_RUN, **a_run("r1"))
        monkeypatch.undo()
        assert not [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy.pool")]
        with db.tx(write=False) as tx:
            assert (tx.first(GET_RUN, key="r1") is not None) is committed
        with db.tx() as tx:                     # the pool goes on with a sound connection
            tx.run(INSERT_RUN, **a_run("r2", attempt=2))
    finally:
        db.dispose()


def test_a_commit_lost_on_the_loop_is_settled_there_too(pg_url, monkeypatch):
    db = Database(pg_url)
    migrate(db)
    _commit_losing_its_connection(monkeypatch, pg_url, committed=True, green=True)

    def write():
        with db.tx() as tx:
            tx.run(INSERT_RUN, **a_run("r1"))
    try:
        assert on_loop(db, write) == [None]
        monkeypatch.undo()
        with db.tx(write=False) as tx:
            assert tx.first(GET_RUN, key="r1") is not None
    finally:
        db.dispose()


def test_a_lost_commit_the_server_cannot_be_asked_about_is_reported_as_unknown(pg_url, monkeypatch):
    """Not "unavailable, nothing happened" (UNAVAILABLE, which clients retry) but UNKNOWN: the
    change may have been made."""
    import grpc
    from omp_services.common.errors import CommitUnknown, to_status
    from omp_services.common.storage import db as storage_db
    db = Database(pg_url)
    migrate(db)
    _commit_losing_its_connection(monkeypatch, pg_url, committed=True)
    # the question itself fails, as it would with the server gone for good
    monkeypatch.setattr(storage_db, "_XACT_STATUS", Statement(select(bindparam("xid")).where(text("no_such_column"))))
    monkeypatch.setattr(storage_db, "SETTLE_S", 0.3)       # asked again until then
    try:
        with pytest.raises(CommitUnknown) as raised:
            with db.tx() as tx:
                tx.run(INSERT_RUN, **a_run("r1"))
        code, message = to_status(raised.value)
        assert code == grpc.StatusCode.UNKNOWN and "may have been made" in message and "no_such_column" in message
    finally:
        db.dispose()


def test_a_pooled_connection_the_server_ended_is_replaced_before_it_is_used(pg_url):
    """No round trip before each transaction (SQLAlchemy's pre-ping): a pooled connection whose
    session the server ended (a restart, an administrator) is found by a look at its socket when it
    is lent, and a new one is opened; the caller never sees the dead one."""
    import psycopg
    from sqlalchemy import func
    backend = Statement(select(func.pg_backend_pid()))
    db = Database(pg_url, pool_size=1)
    try:
        with db.tx(write=False) as tx:
            pid = tx.scalar(backend)
        with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
            wait_for(lambda: not admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                               (pid,)).fetchone()[0], timeout=20, what="the session to end")
        with db.tx() as tx:
            assert tx.scalar(backend) != pid
    finally:
        db.dispose()


def test_a_call_on_the_loop_that_finds_every_connection_in_use_is_told_busy(pg_url, monkeypatch):
    """The loop's connections are bounded (LOOP_CALLS x the pool size): a call past them waits
    for one at most LOOP_WAIT_S, without holding up the loop, and then hears DatabaseBusy
    (UNAVAILABLE: try again) while the call that holds the connection goes on to its end."""
    from sqlalchemy import func
    from omp_services.common.errors import DatabaseBusy
    from omp_services.common.storage import db as storage_db
    monkeypatch.setattr(storage_db, "LOOP_CALLS", 1)
    monkeypatch.setattr(storage_db, "LOOP_WAIT_S", 0.1)
    db = Database(pg_url, pool_size=1)
    nap = Statement(select(func.pg_sleep(0.5)))
    one = Statement(select(func.pg_backend_pid()))

    def long():
        with db.tx(write=False) as tx:
            tx.scalar(nap)

    def short():
        with db.tx(write=False) as tx:
            return tx.scalar(one)
    try:
        first, second = on_loop(db, long, short)
        assert first is None and isinstance(second, DatabaseBusy) and "in use" in str(second)
    finally:
        db.dispose()

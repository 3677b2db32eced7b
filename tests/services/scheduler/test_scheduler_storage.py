"""The scheduler's storage on both databases: its migrations keep old rows, its admission query
reads the partial index of queued campaigns."""
from sqlalchemy import text

from omp_services.common.storage.db import Database
from omp_services.migrations import migrate
from omp_services.scheduler.entities import Campaign
from omp_services.scheduler.repository import _NEXT_DUE, SchedulerStore, SchedulerTx, _listed


def test_a_database_of_the_first_schema_is_upgraded_with_its_rows(database_url):
    old = Database(database_url)
    migrate(old, "0001")                                 # as the first release left it
    with old.engine.begin() as conn:
        conn.execute(text("INSERT INTO campaigns (id, name, config_path, market, priority, enabled, repeat, tags, "
                          "state, created_at, updated_at, queued_at, rank_key, attempt, consecutive_failures, "
                          "last_error, config_hash, last_run_id) VALUES ('camp_old', 'old', 'c.toml', 'us', 1, "
                          ":t, :f, '[]', 'queued', 1.0, 1.0, 1.0, 1.0, 0, 0, '', '', '')"), {"t": True, "f": False})
    old.dispose()
    new = Database(database_url)
    migrate(new)
    try:
        with new.tx(write=False) as tx:
            got = SchedulerTx(tx).get("camp_old")
            assert got.name == "old" and got.not_before is None
            assert SchedulerTx(tx).next_queued(2.0).id == "camp_old"
    finally:
        new.dispose()


def test_the_admission_query_reads_the_partial_index_of_queued_campaigns(db):
    """Completed campaigns ranked ahead (a long-running queue accumulates them) are not scanned."""
    with db.tx() as tx:
        store = SchedulerTx(tx)
        for k in range(2000):
            store.insert(Campaign(f"camp_done{k}", f"d{k}", "c.toml", "us", 0, True, False, (), "completed",
                                  k, k, k), float(k), None)
        store.insert(Campaign("camp_next", "n", "c.toml", "us", 5, True, False, (), "queued", 1e6, 1e6, 1e6),
                     1e9, None)
        assert store.next_queued(2e9).id == "camp_next"
    plan = _plan(db, _NEXT_DUE, {"key": 2e9, "param_1": 1, "param_2": 0})
    assert "ix_campaigns_queue" in plan, plan


def test_a_page_of_the_queue_reads_the_index_of_campaigns_not_removed_in_queue_order(db):
    """A page of 50 out of thousands is read from the index in order, not sorted out of the whole
    table (PostgreSQL did that through an index led by removed_at: 2.5 ms of its CPU a page)."""
    with db.tx() as tx:
        store = SchedulerTx(tx)
        for k in range(2000):
            store.insert(Campaign(f"camp_{k:04d}", f"c{k}", "c.toml", "us", k % 50, True, False, (), "queued",
                                  k, k, k), (k % 50) * 1e5 + k, None)
        page, total = store.list(limit=50)
        assert total == 2000 and [c.id for c in page] == [f"camp_{k:04d}" for k in sorted(range(2000), key=lambda k: (k % 50, k))[:50]]
    plan = _plan(db, _listed(False, False, False, False), {"limit": 50, "offset": 0})
    assert "ix_campaigns_listed" in plan and "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_a_page_is_never_longer_than_the_total_it_comes_with(db):
    """The total comes from the kept counts, read apart from the page: on PostgreSQL the two
    statements see two moments, and a fault probe's concurrent changes got a page of 27 with a
    total of 26 (10 times in 3 minutes). A count behind its rows stands in for that moment here."""
    store = SchedulerStore(db)
    with store.tx() as tx:                  # the kept counts move with the rows, at the end
        for k in range(3):
            tx.insert(Campaign(f"camp_{k}", f"c{k}", "c.toml", "us", 1, True, False, (), "queued", k, k, k),
                      float(k), None)
    with store.read() as tx:
        assert tx.list(limit=50)[1] == 3
    with db.engine.begin() as conn:         # a count that has not caught up with the rows
        conn.execute(text("UPDATE campaign_counts SET n = n - 1 WHERE state = 'queued'"))
    with store.read() as tx:
        page, total = tx.list(limit=50)
        assert len(page) == 3 and total == 3
        page, total = tx.list(offset=1, limit=1)
        assert len(page) == 1 and total == 2        # no more than it knows past what it shows


def _plan(db, stmt, params) -> str:
    """How each database runs ``stmt`` (its statistics fresh)."""
    compiled = stmt.compiled(db.dialect)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.sqlite:
            cur.execute("ANALYZE")
            cur.execute("EXPLAIN QUERY PLAN " + compiled.sql, tuple(params[n] for n in compiled.positional))
            plan = " ".join(str(r) for r in cur.fetchall())
        else:
            cur.execute("ANALYZE campaigns")
            cur.execute("EXPLAIN " + compiled.sql, params)
            plan = " ".join(r[0] for r in cur.fetchall())
        raw.commit()
    finally:
        raw.close()
    return plan


def test_a_change_of_the_queue_locks_the_kept_counts_only_at_its_end(pg_url):
    """Every add moves the same kept count: a transaction that locked it at its first change made
    every concurrent change wait for its COMMIT. Here one add is still open (its campaign written,
    its COMMIT not yet) while another add commits beside it; the counts are right after both."""
    import threading
    from omp_services.scheduler.repository import SchedulerStore
    first, second = Database(pg_url), Database(pg_url)
    migrate(first)
    opened, other_done = threading.Event(), threading.Event()
    order = []

    def slow_add():
        with SchedulerStore(first).tx() as tx:
            tx.insert(Campaign("camp_slow", "slow", "c.toml", "us", 1, True, False, (), "queued", 1, 1, 1), 1.0, None)
            opened.set()
            other_done.wait(20)             # without the change, the other add waits on us: 20 s, then fails below
        order.append("slow")
    t = threading.Thread(target=slow_add)
    t.start()
    try:
        assert opened.wait(20)
        with SchedulerStore(second).tx() as tx:
            tx.insert(Campaign("camp_quick", "quick", "c.toml", "us", 1, True, False, (), "queued", 2, 2, 2), 2.0, None)
        order.append("quick")
        other_done.set()
        t.join(30)
        assert order == ["quick", "slow"]
        with SchedulerStore(second).read() as tx:
            assert tx.count("queued") == 2 and tx.list(limit=5)[1] == 2
    finally:
        other_done.set()
        t.join(30)
        first.dispose()
        second.dispose()


def test_a_count_read_inside_a_change_includes_what_it_moved(db):
    with db.tx() as tx:
        store = SchedulerTx(tx)
        store.insert(Campaign("camp_a", "a", "c.toml", "us", 1, False, False, (), "queued", 1, 1, 1), 1.0, None)
        assert store.count("queued") == 1 and store.count_disabled() == 1 and store.list(limit=5)[1] == 1

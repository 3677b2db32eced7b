"""Server streams against real servers: a cancelled stream frees what it held at once, streams
never starve unary calls, and a client cannot open more than its share."""
from __future__ import annotations

import re
import time

import grpc
import pytest

from helpers_services import CONFIGS, ROOT, miner_client, scheduler_client, wait_for, write_settings
from omp.v1 import miner_pb2 as mpb, miner_pb2_grpc, scheduler_pb2 as spb, scheduler_pb2_grpc
from omp_services.common import settings as settings_mod
from omp_services.common.errors import ResourceExhausted
from omp_services.miner.app import MinerApp
from omp_services.miner.settings import SECTIONS as MINER
from omp_services.scheduler.app import SchedulerApp
from omp_services.scheduler.settings import SECTIONS as SCHEDULER


def _connection(address: str) -> grpc.Channel:
    """A channel on a TCP connection of its own (channels of one process share one by default,
    and the server counts streams per connection)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


@pytest.fixture
def apps(tmp_path):
    settings = settings_mod.load(write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}"),
                                 sections={**SCHEDULER, **MINER})
    sched = SchedulerApp(settings)
    sched.start()
    miner = MinerApp(settings, f"127.0.0.1:{sched.service.port}")
    miner.start()
    yield sched, miner
    miner.stop(1.0)
    sched.stop(1.0)


def _follow(channel):
    return scheduler_pb2_grpc.SchedulerServiceStub(channel).WatchEvents(
        spb.WatchEventsRequest(after_seq=0, follow=True), timeout=60)


def test_cancelled_follow_streams_free_their_threads_at_once(apps):
    """An idle scheduler, every stream slot taken by `omp events --follow` and then Ctrl-C: a new
    watch answers at once (it waited for the next event before: the threads stayed in the streams)."""
    sched, _ = apps
    address = f"127.0.0.1:{sched.service.port}"
    total, per = sched.service.streams.total, sched.service.streams.per_client
    channels = [_connection(address) for _ in range(total // per)]
    streams = [_follow(ch) for ch in channels for _ in range(per)]
    wait_for(lambda: sched.service.streams.open == total, timeout=10, what="every stream to be open")
    for s in streams:
        s.cancel()
    wait_for(lambda: sched.service.streams.open == 0, timeout=2, what="the slots of cancelled streams")
    client = scheduler_client(address, timeout=2.0)
    t0 = time.monotonic()
    events = list((x.event for x in client.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0, follow=False), timeout=2.0)))
    assert events and time.monotonic() - t0 < 1.0
    again = [_follow(channels[0]) for _ in range(per)]        # every slot can be taken again
    wait_for(lambda: sched.service.streams.open == per, timeout=5, what="new streams")
    for s in again:
        s.cancel()
    client.close()
    for ch in channels:
        ch.close()


def test_a_client_cannot_open_more_than_its_share_of_streams(apps):
    sched, _ = apps
    per = sched.service.streams.per_client
    channel = _connection(f"127.0.0.1:{sched.service.port}")
    streams = [_follow(channel) for _ in range(per)]
    wait_for(lambda: sched.service.streams.open == per, timeout=10, what="the client's streams")
    with pytest.raises(grpc.RpcError) as err:
        next(_follow(channel))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and f"at most {per} open per client" in \
        err.value.details()
    other = scheduler_client(f"127.0.0.1:{sched.service.port}")         # another client still may
    assert list((x.event for x in other.stream("WatchEvents", spb.WatchEventsRequest(after_seq=0), timeout=5)))
    streams[0].cancel()
    wait_for(lambda: sched.service.streams.open == per - 1, timeout=2, what="a slot to free")
    assert next(_follow(channel)).event.seq >= 1                                # the freed slot is usable
    for s in streams:
        s.cancel()
    other.close()
    channel.close()


@pytest.fixture
def lonely_miner(tmp_path):
    """A miner whose scheduler is nowhere (its reports wait), with a campaign that runs for minutes."""
    root = tmp_path / "configs"
    root.mkdir()
    text = (CONFIGS / "tiny.toml").read_text().replace("../../../examples/data/", f"{ROOT}/examples/data/")
    (root / "long.toml").write_text(re.sub(r"\ngenerations = \d+", "\ngenerations = 100000", text))
    settings = settings_mod.load(write_settings(tmp_path, f"sqlite:///{tmp_path / 'm.db'}",
                                                paths={"configs_root": str(root)}), sections=MINER)
    miner = MinerApp(settings, "127.0.0.1:1")
    miner.start()
    yield miner
    miner.stop(1.0)


def test_streams_never_starve_unary_calls(lonely_miner):
    """The miner's unary methods and its streams run on pools of their own: with every stream slot
    held by a watch of a quiet run, GetRun and ListRuns still answer at once."""
    miner = lonely_miner
    address = f"127.0.0.1:{miner.service.port}"
    client = miner_client(address, timeout=5.0)
    run = client.call("StartRun", mpb.StartRunRequest(campaign_id="camp_w", attempt=1, config_path="long.toml")).run
    total, per = miner.service.streams.total, miner.service.streams.per_client
    channels = [_connection(address) for _ in range(total // per)]
    watches = [miner_pb2_grpc.MinerServiceStub(ch).WatchRun(mpb.WatchRunRequest(run_id=run.run_id), timeout=60)
               for ch in channels for _ in range(per)]
    wait_for(lambda: miner.service.streams.open == total, timeout=10, what="every watch to be open")
    with pytest.raises(ResourceExhausted):
        next((x.run for x in client.stream("WatchRun", mpb.WatchRunRequest(run_id=run.run_id), timeout=5)))
    t0 = time.monotonic()
    for _ in range(20):
        assert client.call("GetRun", mpb.GetRunRequest(run_id=run.run_id), timeout=2.0).run.run_id == run.run_id
        client.call("ListRuns", mpb.ListRunsRequest(), timeout=2.0)
    assert time.monotonic() - t0 < 5.0
    for w in watches:
        w.cancel()
    wait_for(lambda: miner.service.streams.open == 0, timeout=2, what="the watches to end")
    client.call("CancelRun", mpb.CancelRunRequest(run_id=run.run_id, reason="test over"))
    client.close()
    for ch in channels:
        ch.close()

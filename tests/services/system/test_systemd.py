"""systemd's protocol as a service speaks it, heard on a real datagram socket: READY=1 once it
serves, WATCHDOG=1 while it is alive, STOPPING=1 when it drains; under journald each log line
carries its priority; --version and --log-level on every entry point."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from omp_services.common import logs, runner, systemd

from helpers_services import ROOT, wait_for, write_settings

ENTRY_POINTS = ["omp_services.scheduler.app", "omp_services.miner.app", "omp_services.promoter.app", "omp_services.watchdog.app",
                "omp_cli"]


class Listener:
    """A notify socket as systemd holds one: every datagram a service sends, in order."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path, self.got, self._stop = str(path), [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.got.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                continue

    def messages(self, key: str) -> list[tuple[float, str]]:
        return [(t, m) for t, m in self.got if key in m.split("\n")[0] or f"\n{key}" in m or m.startswith(key)]

    def close(self):
        self._stop.set()
        self._thread.join()
        self.sock.close()


def test_a_service_says_ready_pings_the_watchdog_while_alive_and_says_stopping(tmp_path):
    listener = Listener(tmp_path / "notify")
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}")
    env = {**os.environ, "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "600000"}     # a ping every 0.15 s
    proc = subprocess.Popen([sys.executable, "-m", "omp_services.scheduler.app", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ready = wait_for(lambda: listener.messages("READY=1"), timeout=60, what="READY=1")
        assert f"MAINPID={proc.pid}" in ready[0][1] and "STATUS=serving gRPC on port" in ready[0][1]
        pings = wait_for(lambda: (p := listener.messages("WATCHDOG=1")) and len(p) >= 4 and p, timeout=30,
                         what="watchdog pings")
        assert pings[0][0] >= ready[0][0]                                  # alive only once serving
        gaps = [b[0] - a[0] for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 1.0                                              # well within WatchdogSec (0.6 s x 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        stopping = listener.messages("STOPPING=1")
        assert stopping and stopping[0][0] > ready[0][0]
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def test_the_watchdog_stops_pinging_when_a_check_fails_and_says_why(tmp_path):
    listener = Listener(tmp_path / "notify")
    state = {"why": None}
    dog = systemd.Watchdog(0.05, lambda: state["why"], env={"NOTIFY_SOCKET": listener.path}).start()
    try:
        wait_for(lambda: len(listener.messages("WATCHDOG=1")) >= 3, timeout=10, what="pings while alive")
        # one failed check alone (a stall at the wrong moment) withholds nothing
        once = iter(["a slow check"])
        dog.alive = lambda: next(once, None)
        seen = len(listener.messages("WATCHDOG=1"))
        wait_for(lambda: len(listener.messages("WATCHDOG=1")) >= seen + 3, timeout=10, what="pings after one slow check")
        assert not listener.messages("STATUS=hung")
        dog.alive = lambda: state["why"]
        state["why"] = "the main loop has not gone round for 300 s"
        wait_for(lambda: listener.messages("STATUS=hung"), timeout=10, what="the hung status")
        pings = len(listener.messages("WATCHDOG=1"))
        state["checked"] = 0
        # ten more rounds of checks (the check counts them): not one more ping, the reason said once
        dog.alive = lambda: state.__setitem__("checked", state["checked"] + 1) or state["why"]
        wait_for(lambda: state["checked"] >= 10, timeout=10, what="ten more checks")
        assert len(listener.messages("WATCHDOG=1")) == pings
        assert len(listener.messages("STATUS=hung")) == 1
    finally:
        dog.stop()
        listener.close()


def test_a_service_is_alive_only_while_its_event_loop_answers_and_its_main_loop_goes_round():
    from types import SimpleNamespace
    from omp_services.common.runner import alive
    now = [0.0]
    beat = systemd.Heartbeat(stale_after=300.0, clock=lambda: now[0])
    answers = [True]
    app = SimpleNamespace(service=SimpleNamespace(responsive=lambda timeout: answers[0]), heartbeat=beat)
    assert alive(app) is None
    now[0] = 301.0
    assert "main loop has not gone round for 300 s" in alive(app)
    beat.beat()
    answers[0] = False
    assert "event loop does not answer" in alive(app)
    assert alive(SimpleNamespace(service=SimpleNamespace(responsive=lambda timeout: True))) is None  # no main loop


def test_a_heartbeat_goes_stale_when_a_round_of_its_loop_takes_too_long():
    now = [0.0]
    beat = systemd.Heartbeat(stale_after=10.0, step=1.0, clock=lambda: now[0])
    assert beat.fresh()
    now[0] = 9.9
    assert beat.fresh()
    now[0] = 10.1
    assert not beat.fresh()
    beat.beat()
    assert beat.fresh()


def test_a_long_wait_of_a_main_loop_keeps_its_heartbeat_fresh():
    """A wait of 100 s in steps of 5 s on a clock of its own: between any two beats no more than a
    step passes, so a heartbeat stale after 10 s never goes stale while its loop only waits."""
    now = [0.0]

    class Event:            # an event nobody sets: each wait lets its timeout pass on the clock
        def __init__(self):
            self.waits = []

        def wait(self, timeout):
            self.waits.append(timeout)
            now[0] += timeout
            return False

        def is_set(self):
            return False

    beat = systemd.Heartbeat(stale_after=10.0, step=5.0, clock=lambda: now[0])
    event = Event()
    stale_at = []
    original = event.wait

    def watched(timeout):   # freshness as the watchdog would see it, just before each step ends
        now[0] += timeout - 0.001
        stale_at.extend([now[0]] if not beat.fresh() else [])
        now[0] -= timeout - 0.001
        return original(timeout)
    event.wait = watched
    assert beat.wait(event, 100.0) is False
    assert now[0] == 100.0 and len(event.waits) == 20 and max(event.waits) == 5.0
    assert stale_at == [] and beat.fresh()
    real = threading.Event()
    threading.Timer(0.1, real.set).start()
    assert systemd.Heartbeat(stale_after=1.0, step=0.05).wait(real, 5.0) is True       # an event ends it


def test_no_manager_no_notification():
    assert systemd.notify("READY=1", env={}) is False
    assert systemd.watchdog_interval({}) is None
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None     # not for us
    assert systemd.watchdog_interval({"WATCHDOG_USEC": "2000000"}) == 0.5


def test_under_journald_each_line_carries_its_priority(tmp_path):
    """A service started with its stderr on the journal stream ($JOURNAL_STREAM = its device:inode)."""
    out = tmp_path / "stderr"
    taken = socket.create_server(("127.0.0.1", 0))          # its port is taken: an error line, then exit 2
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}",
                            scheduler={"port": taken.getsockname()[1]})
    with taken:
        with open(out, "wb") as fh:
            st = os.fstat(fh.fileno())
            env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
            r = subprocess.run([sys.executable, "-m", "omp_services.scheduler.app", "--config", str(config),
                                "--log-level", "DEBUG"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=fh,
                               timeout=60)
        assert r.returncode == 2
        lines = [x for x in out.read_text().splitlines() if x.startswith("<")]
        assert any(x.startswith("<3>{") and '"level": "error"' in x for x in lines), lines
        assert any(x.startswith("<6>{") for x in lines) and all(x.startswith("<") for x in out.read_text().splitlines()
                                                                if x.startswith(("{", "<")))
        # the same process with stderr elsewhere: plain JSON lines, no priority prefix
        r = subprocess.run([sys.executable, "-m", "omp_services.scheduler.app", "--config", str(config)], cwd=ROOT,
                           env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.startswith("{")
    assert logs.PRIORITY["ERROR"] == 3 and logs.PRIORITY["INFO"] == 6


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_entry_point_says_its_version(module):
    r = subprocess.run([sys.executable, "-m", module, "--version"], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    name = "omp" if module == "omp_cli" else f"omp-{module.split('.')[1]}"
    assert r.returncode == 0 and r.stdout.startswith(f"{name} 0.") and "(commit " in r.stdout, r


def test_log_level_is_a_choice_and_a_bad_one_is_refused():
    r = subprocess.run([sys.executable, "-m", "omp_services.watchdog.app", "--log-level", "LOUD"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--log-level" in r.stderr and "LOUD" in r.stderr


def test_on_sigterm_health_says_not_serving_while_calls_are_still_served_then_the_port_closes(tmp_path):
    """The gRPC way to drain: for drain_s, health is NOT_SERVING and a call is still answered."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from omp.v1 import scheduler_pb2 as spb, scheduler_pb2_grpc
    from helpers_services import ServiceProcess
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", scheduler={"drain_s": 3.0})
    sched = ServiceProcess("omp_services.scheduler.app", config, tmp_path).start()
    channel = grpc.insecure_channel(sched.address)
    health = health_pb2_grpc.HealthStub(channel)
    try:
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
        sched.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                 == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=10, what="NOT_SERVING")
        # draining, not gone: a call is still served
        assert scheduler_pb2_grpc.SchedulerServiceStub(channel).GetStatus(spb.GetStatusRequest(), timeout=5).status.state
        assert sched.proc.poll() is None
        assert sched.proc.wait(timeout=30) == 0
    finally:
        channel.close()
        sched.kill()


def test_the_promoter_is_alive_only_while_its_mirror_loop_goes_round(tmp_path):
    """The promoter's one loop is the mirror's: a sync that hangs stops systemd's watchdog pings
    (through alive()), and the promoter is alive again once it returns. Without a mirror there is
    no loop to watch."""
    from omp_services.common import settings as settings_mod
    from omp_services.promoter.app import PromoterApp
    config = write_settings(tmp_path, f"sqlite:///{tmp_path / 'omp.db'}", promoter={"port": 0, "metrics_port": 0},
                            promotion={"mirror_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
                                       "mirror_interval_s": 0.05})
    app = PromoterApp(settings_mod.load(config, sections=PromoterApp.sections))
    hang, entered = threading.Event(), threading.Event()

    def sync():
        entered.set()
        hang.wait(60)
        return 0
    app.mirror.sync = sync
    app.heartbeat = systemd.Heartbeat(stale_after=0.5, step=0.05)
    try:
        app.start()
        assert entered.wait(30)
        reason = wait_for(lambda: runner.alive(app), timeout=30, what="the hung mirror loop seen")
        assert "main loop has not gone round" in reason
        hang.set()
        wait_for(lambda: runner.alive(app) is None, timeout=30, what="alive again")
    finally:
        hang.set()
        app.stop(grace=0)
    plain = write_settings(tmp_path, f"sqlite:///{tmp_path / 'plain.db'}", name="plain.toml")
    bare = PromoterApp(settings_mod.load(plain, sections=PromoterApp.sections))
    try:
        assert bare.heartbeat is None
    finally:
        bare.stop(grace=0)

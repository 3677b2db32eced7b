"""Settings from ``omp.toml`` (the playbook's ``omp_config.toml``): what every service shares.

Defaults live in code and match the playbook's numbers; the file overrides them; a bad value stops
start-up with the key path named (``resources.max_cpu_util_pct: must be in (0, 100], got 120``).

Shared here: the environment label, paths, the database, security, the resource budget, and the
address book (``[scheduler]``, ``[miner]``: each service's host, port and metrics port, which the
others and the ``omp`` command need to reach it). Everything else in a service's section belongs to
that service: it declares its section as a subclass of :class:`Endpoint` in its own
``settings.py`` and hands it to :func:`load`, which binds and checks it. A process that does not
own a section reads only its address and leaves its other keys to their owner.
"""
from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from omp_core.binding import ConfigError, build_table, require

ENVIRONMENTS = ("dev", "staging", "prod")


def check_port(path: str, v: int) -> None:
    require(0 <= v <= 65535, path, "must be a port in 0..65535 (0: any free port)", v)


#: a service instance's name among several (a miner's, a scheduler's): stable across restarts
INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199}")
INSTANCE_ID_RULE = "must be 1..200 letters, digits or ._:@/-, starting with a letter or digit"


def check_instance_id(path: str, v: str) -> None:
    """An instance id as set in a settings file ("" means: the host's name and the port)."""
    require(v == "" or INSTANCE_ID.fullmatch(v) is not None, path, INSTANCE_ID_RULE, v)


def is_host_port(v: str) -> bool:
    """``host:port`` with a port in 1..65535 (the one check of an address a service is reached at)."""
    host, _, port = v.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def check_host_port(path: str, v: str) -> None:
    """A host:port a service is reached at ("" means: its own host and port)."""
    require(v == "" or is_host_port(v), path, "must be host:port with a port in 1..65535", v)


@dataclass(frozen=True)
class Endpoint:
    """Where a service listens. Service sections extend it with their own keys."""
    host: str = "127.0.0.1"
    port: int = 0
    metrics_port: int = 0
    #: on SIGTERM, health says NOT_SERVING this long while calls are still served, then the port
    #: closes: a load balancer or a client's health check has the time to look elsewhere
    drain_s: float = 2.0

    def check(self, p):
        require(0 < len(self.host) <= 255, f"{p}.host", "must be a host name or address", self.host)
        require(0 <= self.drain_s <= 60, f"{p}.drain_s", "must be in [0, 60]", self.drain_s)
        check_port(f"{p}.port", self.port)
        check_port(f"{p}.metrics_port", self.metrics_port)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


#: every service's address and metrics port by default (DESIGN.md's port table)
ADDRESS_BOOK: Mapping[str, Endpoint] = MappingProxyType({
    "scheduler": Endpoint(port=50051, metrics_port=9151),
    "miner": Endpoint(port=50052, metrics_port=9152),
    "promoter": Endpoint(port=50053, metrics_port=9153),
    "watchdog": Endpoint(port=50054, metrics_port=9154),
})


@dataclass(frozen=True)
class Paths:
    data_dir: str = "var"                     # SQLite database, logs
    configs_root: str = "examples/campaigns"  # campaign config paths are relative to this and stay in it
    runs_dir: str = "var/runs"
    data_root: str = ""                       # market data files must stay under this ("" = anywhere)
    hof_dir: str = "artifacts/hall_of_fame"   # the Hall of Fame's artifacts (retention never touches them)


@dataclass(frozen=True)
class Database:
    url: str = ""                             # "" = sqlite:///<data_dir>/omp.db (WAL)
    url_file: str = ""                        # or a file holding the URL (a secret: "{credentials}/database-url")
    pool_size: int = 5
    unreachable_s: float = 30.0               # not reachable this long: SEV-0, mining paused until it is back

    def check(self, p):
        require(0 < self.unreachable_s <= 3600, f"{p}.unreachable_s", "must be in (0, 3600]", self.unreachable_s)
        ok = self.url == "" or self.url.startswith(("sqlite", "postgresql"))
        require(ok, f"{p}.url", "must be a sqlite:// or postgresql+psycopg:// URL", redact_url(self.url))
        require(not (self.url and self.url_file), f"{p}.url_file", "set url or url_file, not both", self.url_file)


#: a URL's password anywhere in a text: ``postgresql+psycopg://omp:s3cret@db`` (up to the last @
#: before a blank, so a password holding @ or / is covered too), and one given as a query parameter
_URL_PASSWORD = re.compile(r"([A-Za-z][\w+.-]*://[^\s:/@]*:)\S*@")
_QUERY_PASSWORD = re.compile(r"([?&](?:password|passwd|pwd)=)[^&\s\"']*", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with every URL password in it replaced by ***: what a log line or an error says."""
    if "://" not in text:
        return text
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def redact_url(url: str) -> str:
    """A database URL fit for a log line or an error: its password replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    auth, at, host = rest.rpartition("@")
    if not at or ":" not in auth:
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}"


@dataclass(frozen=True)
class Resources:
    """The resource budget: the scheduler admits nothing outside it."""
    max_cpu_util_pct: float = 85.0
    min_mem_available_mb: float = 400.0
    min_disk_free_gb: float = 1.0

    def check(self, p):
        require(0 < self.max_cpu_util_pct <= 100, f"{p}.max_cpu_util_pct", "must be in (0, 100]",
                self.max_cpu_util_pct)
        require(self.min_mem_available_mb >= 0, f"{p}.min_mem_available_mb", "must be >= 0",
                self.min_mem_available_mb)
        require(self.min_disk_free_gb >= 0, f"{p}.min_disk_free_gb", "must be >= 0", self.min_disk_free_gb)


@dataclass(frozen=True)
class Security:
    """TLS and authentication, for every server and client of OMP (services/common/security.py
    reads the files and refuses at start what is set but unusable). A path may hold ``{service}``,
    replaced by the process's name, so that one file serves every service with its own identity
    (``tls_cert = "/etc/omp/tls/{service}.crt"``)."""
    tls_cert: str = ""                  # this server's certificate (PEM); also its client certificate with client_ca
    tls_key: str = ""                   # its private key (PEM, mode 0600)
    tls_ca: str = ""                    # the CA clients verify servers with ("" with TLS: the system's roots)
    client_ca: str = ""                 # set: mutual TLS, a client certificate signed by this CA is required
    tokens_file: str = ""               # set: bearer tokens required (sha256 of each, its principal and role)
    token_file: str = ""                # this process's own bearer token, for its calls to the others
    allow_insecure_remote: bool = False  # listen on a non-loopback address without TLS and authentication
    allow_plaintext_metrics: bool = False  # serve Prometheus metrics on a non-loopback address (plaintext, open)
    token: str = ""                     # refused: a token in plain text (kept to say so, naming the key)

    def check(self, p):
        require(not self.token, f"{p}.token", "a token in plain text is refused: put its sha256 in tokens_file "
                "(omp security add-token) and this process's own token in token_file", "***")

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert or self.tls_key)

    @property
    def authentication(self) -> bool:
        return bool(self.tokens_file or self.client_ca)


@dataclass(frozen=True)
class _Common:
    """The keys every process binds and checks."""
    environment: str = "dev"
    paths: Paths = field(default_factory=Paths)
    database: Database = field(default_factory=Database)
    resources: Resources = field(default_factory=Resources)
    security: Security = field(default_factory=Security)

    def check(self, p=""):
        require(self.environment in ENVIRONMENTS, "environment", f"must be one of {ENVIRONMENTS}", self.environment)


#: sections that are no service's address but one service's own settings: bound in full by the
#: process that owns them (passes them in ``sections``), left to it by every other process
OWNED_ELSEWHERE = {"retention": "watchdog", "promotion": "promoter", "auto_reject": "promoter"}


@dataclass(frozen=True)
class Settings(_Common):
    #: every service's section: its full settings where this process owns it, its Endpoint otherwise
    services: Mapping[str, Endpoint] = field(default_factory=dict)
    #: the sections this process owns (bound in full)
    owned: frozenset[str] = frozenset()
    #: the folder relative paths are resolved from (the settings file's folder, or the cwd)
    base_dir: Path = field(default=Path("."), compare=False)

    def section(self, name: str):
        """The section of service ``name``, which this process must own (declared when it loaded
        these settings); of another service's, only ``endpoint`` is known."""
        if name not in self.owned:
            raise LookupError(f"settings section [{name}] was not loaded for this process (owned: "
                              f"{sorted(self.owned)}): pass it to settings.load(sections=...)")
        return self.services[name]

    def endpoint(self, name: str) -> Endpoint:
        return self.services[name]

    def path(self, value: str) -> Path:
        return (self.base_dir / value).resolve()

    def secret_path(self, value: str, key: str, process: str = "") -> Path:
        """A path that may name systemd's credentials (``{credentials}/token``: the folder in
        ``$CREDENTIALS_DIRECTORY``) and the process (``{service}``)."""
        if "{credentials}" in value:
            folder = os.environ.get("CREDENTIALS_DIRECTORY", "")
            require(bool(folder), key, "names {credentials}, but $CREDENTIALS_DIRECTORY is not set (systemd's "
                    "LoadCredential= sets it; by hand, point it at the credentials' folder)", value)
            value = value.replace("{credentials}", folder)
        return self.path(value.replace("{service}", process))

    @functools.cached_property
    def data_dir(self) -> Path:
        return self.path(self.paths.data_dir)

    @functools.cached_property
    def configs_root(self) -> Path:
        return self.path(self.paths.configs_root)

    @functools.cached_property
    def runs_dir(self) -> Path:
        return self.path(self.paths.runs_dir)

    @functools.cached_property
    def hof_dir(self) -> Path:
        """The Hall of Fame's artifacts (the promoter writes them; retention never touches them)."""
        return self.path(self.paths.hof_dir)

    @property
    def data_root(self) -> Path | None:
        return self.path(self.paths.data_root) if self.paths.data_root else None

    @functools.cached_property
    def database_url(self) -> str:
        if self.database.url_file:
            path = self.secret_path(self.database.url_file, "database.url_file")
            try:
                url = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError("database.url_file", f"cannot read {path}: {exc.strerror or exc}") from None
            require(url.startswith(("sqlite", "postgresql")), "database.url_file",
                    f"{path} must hold a sqlite:// or postgresql+psycopg:// URL", redact_url(url))
            return url
        return self.database.url or f"sqlite:///{self.data_dir / 'omp.db'}"


def load(path: str | Path | None = None, overrides: dict | None = None,
         sections: Mapping[str, type[Endpoint]] | None = None) -> Settings:
    """Settings from ``path`` (or ``$OMP_CONFIG``, or defaults), with ``overrides`` merged on top
    (``{"scheduler": {"port": 0}}``); relative paths resolve from the file's folder.

    ``sections`` names the service sections this process owns and their classes (the scheduler
    passes ``{"scheduler": SchedulerSettings}``): those are bound in full, unknown keys refused;
    of the other services' sections only the address is read."""
    path = path or os.environ.get("OMP_CONFIG")
    raw: dict = {}
    base = Path.cwd()
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError("settings", "file not found", str(path))
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("settings", f"{p} is not valid TOML ({exc})") from None
        base = p.resolve().parent
    for key, val in (overrides or {}).items():
        raw[key] = {**raw.get(key, {}), **val} if isinstance(val, dict) else val
    sections = dict(sections or {})
    unknown = sorted(set(sections) - set(ADDRESS_BOOK) - set(OWNED_ELSEWHERE))
    if unknown:
        raise ValueError(f"no service named {unknown[0]!r} in the address book {sorted(ADDRESS_BOOK)}")
    services = {}
    for name, default in ADDRESS_BOOK.items():
        table = raw.pop(name, {})
        require(isinstance(table, dict), name, "must be a table", table)
        cls = sections.get(name)
        if cls is None:     # another service's section: its address only; its owner checks the rest
            table = {k: v for k, v in table.items() if k in ("host", "port", "metrics_port")}
            cls = Endpoint
        services[name] = build_table(cls, {"port": default.port, "metrics_port": default.metrics_port,
                                           **table}, name)
    for name in OWNED_ELSEWHERE:
        table = raw.pop(name, {})
        if name in sections:
            services[name] = build_table(sections[name], table, name)
    common = build_table(_Common, raw, "")
    return Settings(**{f.name: getattr(common, f.name) for f in dataclasses.fields(_Common)},
                    services=MappingProxyType(services), owned=frozenset(sections), base_dir=base)

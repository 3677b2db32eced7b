"""TLS and authentication for every server and client of OMP, configured once in ``[security]``.

:func:`load` reads and checks the files the settings name, at start: a setting that is set but
unusable (a missing or unreadable file, a key or tokens file others may read, a certificate that
has expired or does not match its key, a token in plain text) stops start-up naming the key, and
so does a server that would listen beyond loopback without TLS and authentication (unless
``allow_insecure_remote``) or in ``prod`` without both. What it returns, :class:`Security`, is the
one way a process serves and calls: its server credentials, the check every call passes before
its servicer runs (:meth:`Security.authorize`, wired into services/common/server.py), and the
channels of its calls to the others, with its own identity (a bearer token, or its certificate
under mutual TLS).

A caller's principal is the name its bearer token maps to in the tokens file (which stores only
the token's sha256), else its client certificate's common name; its role comes from the same file.
Who may call what is services/common/access.py.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from omp_core.binding import ConfigError
from omp_services.common.access import ROLES, SERVICES, Principal, rule_of, service_of
from omp_services.common.clients import CHANNEL_OPTIONS
from omp_services.common.errors import PermissionDenied, Unauthenticated

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
ANONYMOUS = Principal("anonymous", "")
#: names the trails use for no one: never a person's
RESERVED = ("anonymous", "unauthenticated", "operator")
#: the metadata key of a bearer token (RFC 6750, as gRPC's own access-token credentials send it)
AUTHORIZATION = "authorization"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Security:
    """A process's TLS and authentication, checked (see :func:`load`)."""
    #: this server's (key, certificate chain), PEM; None: plaintext
    server_pair: tuple[bytes, bytes] | None = field(default=None, repr=False)
    #: the CA a client certificate must be signed by (mutual TLS), or None
    client_ca: bytes | None = None
    #: the CA this process verifies servers with; None with ``tls``: the system's roots
    server_ca: bytes | None = None
    tls: bool = False
    #: token sha256 -> principal; principal name -> principal (for certificates)
    tokens: dict[str, Principal] = field(default_factory=dict)
    principals: dict[str, Principal] = field(default_factory=dict)
    authentication: bool = False
    #: this process's own identity on its calls: a bearer token and, under mutual TLS, its certificate
    own_token: str = field(default="", repr=False)
    own_pair: tuple[bytes, bytes] | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ serving
    def server_credentials(self) -> grpc.ServerCredentials | None:
        if self.server_pair is None:
            return None
        return grpc.ssl_server_credentials([self.server_pair], root_certificates=self.client_ca,
                                           require_client_auth=self.client_ca is not None)

    def authorize(self, method: str, metadata, auth_context: dict | None = None) -> Principal:
        """The caller's principal, if it may call ``method``: else Unauthenticated (no or an unknown
        token or certificate) or PermissionDenied (its role may not, or no rule names the method)."""
        rule = rule_of(method)
        principal = self.authenticate(metadata, auth_context or {}) if self.authentication else ANONYMOUS
        refusal = None
        if rule is None:
            refusal = PermissionDenied(f"{method}: no access rule names this method, so no one may call it")
        elif self.authentication and not rule.allows(principal.role, service_of(principal.name)):
            refusal = PermissionDenied(f"{principal.name} (role {principal.role}) may not call "
                                       f"{method.rsplit('/', 1)[-1]}: it needs {rule.who}")
        if refusal is not None:
            refusal.principal = principal       # the audit row of a refusal names who was refused
            raise refusal
        return principal

    def authenticate(self, metadata, auth_context: dict) -> Principal:
        bearer = next((v for k, v in metadata if k == AUTHORIZATION), None)
        if bearer is not None:
            scheme, _, token = bearer.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("the authorization metadata must be 'Bearer <token>'")
            principal = self.tokens.get(token_hash(token.strip()))
            if principal is None:
                raise Unauthenticated("the bearer token is not one the tokens file knows")
            return principal
        names = auth_context.get("x509_common_name") or []
        if names:
            name = names[0].decode() if isinstance(names[0], bytes) else str(names[0])
            principal = self.principals.get(name)
            if principal is None:
                raise Unauthenticated(f"the client certificate's subject {name!r} is no principal of the tokens file")
            return principal
        raise Unauthenticated("a bearer token (authorization: Bearer <token>) or a client certificate is required")

    # ------------------------------------------------------------------ calling
    def channel(self, target: str) -> grpc.Channel:
        """A channel to ``target`` with this process's transport and identity."""
        if self.tls:
            key, chain = self.own_pair if self.own_pair is not None else (None, None)
            creds = grpc.ssl_channel_credentials(root_certificates=self.server_ca, private_key=key,
                                                 certificate_chain=chain)
            channel = grpc.secure_channel(target, creds, options=CHANNEL_OPTIONS)
        else:
            channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        if self.own_token:
            channel = grpc.intercept_channel(channel, _Bearer(self.own_token))
        return channel


PLAINTEXT = Security()


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer <token>`` to every call of a channel (also on a plaintext
    loopback channel, where gRPC's own call credentials refuse to go)."""

    def __init__(self, token: str):
        self.header = (AUTHORIZATION, f"Bearer {token}")

    def _with(self, details):
        return details._replace(metadata=[*(details.metadata or ()), self.header])

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with(details), request)


# ---------------------------------------------------------------------------------------- loading
def _path(settings, key: str, process: str) -> Path | None:
    value = getattr(settings.security, key)
    return settings.secret_path(value, f"security.{key}", process) if value else None


def _read(path: Path, key: str, secret: bool = False) -> bytes:
    """A regular file's bytes; a secret's only when no one but its owner may read it (its mode
    checked on the file opened, so what is checked is what is read)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"security.{key}", f"cannot read {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"security.{key}", f"{path} is not a regular file")
        data = fh.read(1 << 20)
    if secret and st.st_mode & 0o077:
        raise ConfigError(f"security.{key}", f"{path} may be read by others (mode {stat.filemode(st.st_mode)}): "
                          f"chmod 600 it")
    if not data.strip():
        raise ConfigError(f"security.{key}", f"{path} is empty")
    return data


def _certificates(data: bytes, key: str, path: Path, now: dt.datetime):
    from cryptography import x509
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ConfigError(f"security.{key}", f"{path} holds no PEM certificate ({exc})") from None
    for cert in certs:
        if cert.not_valid_after_utc <= now:
            raise ConfigError(f"security.{key}", f"{path}: the certificate {cert.subject.rfc4514_string()} "
                              f"expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")
        if cert.not_valid_before_utc > now:
            raise ConfigError(f"security.{key}", f"{path}: the certificate {cert.subject.rfc4514_string()} "
                              f"is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    return certs


def _pair(settings, process: str, now: dt.datetime) -> tuple[bytes, bytes] | None:
    """(key, chain) of ``tls_key``/``tls_cert``, checked: both or neither, readable, the key
    private to its owner, the certificate valid now and matching the key."""
    from cryptography.hazmat.primitives import serialization
    cert_path, key_path = _path(settings, "tls_cert", process), _path(settings, "tls_key", process)
    if cert_path is None and key_path is None:
        return None
    if key_path is None or cert_path is None:
        missing = "tls_key" if key_path is None else "tls_cert"
        raise ConfigError(f"security.{missing}", "must be set with the other of tls_cert and tls_key")
    chain = _read(cert_path, "tls_cert")
    key = _read(key_path, "tls_key", secret=True)
    certs = _certificates(chain, "tls_cert", cert_path, now)
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("security.tls_key", f"{key_path} holds no unencrypted PEM private key ({exc})") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if private.public_key().public_bytes(*spki) != certs[0].public_key().public_bytes(*spki):
        raise ConfigError("security.tls_key", f"{key_path} is not the key of the certificate {cert_path}")
    return key, chain


def _principals(path: Path) -> tuple[dict[str, Principal], dict[str, Principal]]:
    """The tokens file: ``[[principal]]`` tables of ``name``, ``role`` and, for a bearer token,
    ``token_sha256`` (a principal without one is known by its certificate only)."""
    try:
        doc = tomllib.loads(_read(path, "tokens_file", secret=True).decode())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("security.tokens_file", f"{path} is not valid TOML ({exc})") from None
    unknown = sorted(set(doc) - {"principal"})
    if unknown:
        raise ConfigError("security.tokens_file", f"{path}: unknown table {unknown[0]!r} (only [[principal]])")
    tokens, names = {}, {}
    for i, entry in enumerate(doc.get("principal", [])):
        where = f"security.tokens_file: {path} principal[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be a table", entry)
        if "token" in entry:
            raise ConfigError(where, "holds a token in plain text: store only its token_sha256 "
                              "(omp security add-token does)", "***")
        extra = sorted(set(entry) - {"name", "role", "token_sha256"})
        if extra:
            raise ConfigError(where, f"unknown key {extra[0]!r} (name, role, token_sha256)")
        name, role, digest = entry.get("name", ""), entry.get("role", ""), entry.get("token_sha256", "")
        if not (isinstance(name, str) and NAME_RE.fullmatch(name)):
            raise ConfigError(f"{where}.name", "must be 1-64 letters, digits or _.:@- (not first)", name)
        if role not in ROLES:
            raise ConfigError(f"{where}.role", f"must be one of {ROLES}", role)
        if role == "service" and service_of(name) not in SERVICES:
            raise ConfigError(f"{where}.name", f"a service principal is a service's name {SERVICES}, "
                              "optionally with ':<instance>'", name)
        if role != "service" and (service_of(name) in SERVICES or name in RESERVED):
            raise ConfigError(f"{where}.name", "names a service or a word the trail uses for no one; "
                              "pick another name for a person", name)
        if name in names:
            raise ConfigError(f"{where}.name", "names a principal twice", name)
        principal = names[name] = Principal(name, role)
        if digest:
            if not (isinstance(digest, str) and SHA256_RE.fullmatch(digest)):
                raise ConfigError(f"{where}.token_sha256", "must be 64 lowercase hex digits (a sha256)", "***")
            if digest in tokens:
                raise ConfigError(f"{where}.token_sha256", "is the token of another principal too", "***")
            tokens[digest] = principal
    if not names:
        raise ConfigError("security.tokens_file", f"{path} names no [[principal]]")
    return tokens, names


def _common_name(chain: bytes) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    names = x509.load_pem_x509_certificates(chain)[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def _own_identity(principal: Principal | None, process: str, key: str, what: str) -> None:
    """A service's own identity must be a service principal of its own name: a watchdog started
    with an admin's token, or every service with one certificate, would act as someone else."""
    if principal is None:
        raise ConfigError(key, f"{what} names no principal of the tokens file")
    if principal.role != "service" or service_of(principal.name) != process:
        raise ConfigError(key, f"{what} is {principal.name} ({principal.role or 'no role'}), not the "
                          f"{process} service's own identity (a principal '{process}' with role 'service')")


def load(settings, process: str, listen: str | None = None, *, own_token: str | None = None,
         own_pair: tuple[bytes, bytes] | None = None) -> Security:
    """The checked security of ``process`` (a service's name, or ``omp`` for the command) under
    ``settings``; ``listen`` is the host a server binds. A client that is not a service (the
    ``omp`` command) passes its own token and certificate; a service reads its own from
    ``token_file`` and, under mutual TLS, uses its server certificate as its client one."""
    sec, now = settings.security, dt.datetime.now(dt.timezone.utc)
    server = process in SERVICES
    server_pair = _pair(settings, process, now) if server else None
    ca = _path(settings, "tls_ca", process)
    server_ca = _read(ca, "tls_ca") if ca else None
    if server_ca:
        _certificates(server_ca, "tls_ca", ca, now)
    # what only a server reads (the omp command has no $CREDENTIALS_DIRECTORY to find them in)
    client_ca_path = _path(settings, "client_ca", process) if server else None
    client_ca = None
    if sec.client_ca and not sec.tls:
        raise ConfigError("security.client_ca", "mutual TLS needs TLS: set tls_cert and tls_key too")
    if client_ca_path is not None and server:
        client_ca = _read(client_ca_path, "client_ca")
        _certificates(client_ca, "client_ca", client_ca_path, now)
    tokens, principals = {}, {}
    tokens_path = _path(settings, "tokens_file", process) if server else None
    if sec.client_ca and not sec.tokens_file:
        raise ConfigError("security.tokens_file", "must be set with client_ca: it gives each certificate's "
                          "principal its role")
    if tokens_path is not None and server:
        tokens, principals = _principals(tokens_path)
    if server:
        own_pair = server_pair if client_ca is not None else None
        token_path = _path(settings, "token_file", process)
        own_token = ""
        if token_path is not None:
            own_token = _read(token_path, "token_file", secret=True).decode(errors="replace").strip()
            if len(own_token.split()) != 1 or len(own_token) < 16:
                raise ConfigError("security.token_file", f"{token_path} must hold one token of 16 or more characters")
        if sec.authentication and not own_token and own_pair is None:
            raise ConfigError("security.token_file", "must be set with tokens_file: this service identifies "
                              "itself to the others with it (or use mutual TLS: client_ca)")
        if own_token and tokens:
            _own_identity(tokens.get(token_hash(own_token)), process, "security.token_file",
                          f"the token in {token_path}")
        if own_pair is not None and principals:
            _own_identity(principals.get(_common_name(own_pair[1])), process, "security.tls_cert",
                          f"the certificate {_path(settings, 'tls_cert', process)}")
        if listen is not None:
            secure = sec.tls and sec.authentication
            if settings.environment == "prod" and not secure:
                raise ConfigError("security", "environment 'prod' requires TLS (tls_cert, tls_key) and "
                                  "authentication (tokens_file or client_ca)")
            if not is_loopback(listen) and not secure and not sec.allow_insecure_remote:
                raise ConfigError(f"{process}.host", "listening beyond loopback needs TLS and authentication "
                                  "([security] tls_cert, tls_key and tokens_file or client_ca), or "
                                  "[security] allow_insecure_remote = true", listen)
            if not is_loopback(listen) and not (sec.allow_plaintext_metrics or sec.allow_insecure_remote):
                raise ConfigError(f"{process}.host", "the metrics endpoint would listen there too, in plaintext "
                                  "and unauthenticated: say so with [security] allow_plaintext_metrics = true "
                                  "(and keep it behind a firewall)", listen)
    return Security(server_pair=server_pair, client_ca=client_ca, server_ca=server_ca, tls=sec.tls,
                    tokens=tokens, principals=principals, authentication=sec.authentication and server,
                    own_token=own_token or "", own_pair=own_pair)


def for_command(settings, token_file: str | None = None, cert: str | None = None, key: str | None = None,
                env=os.environ) -> Security:
    """The ``omp`` command's security: the settings' TLS, and the operator's own identity, a
    bearer token read from ``token_file`` (else ``$OMP_TOKEN_FILE``, else ``$OMP_TOKEN``: never
    from the command line, where every user of the host can read it) and, under mutual TLS, a
    certificate (``cert``/``key``, else ``$OMP_TLS_CERT``/``$OMP_TLS_KEY``)."""
    token = ""
    path = token_file or env.get("OMP_TOKEN_FILE", "")
    if path:
        token = _read(Path(path).expanduser(), "token_file (--token-file, $OMP_TOKEN_FILE)", secret=True).decode(
            errors="replace").strip()
    elif env.get("OMP_TOKEN"):
        token = env["OMP_TOKEN"].strip()
    pair = None
    cert, key = cert or env.get("OMP_TLS_CERT", ""), key or env.get("OMP_TLS_KEY", "")
    if cert or key:
        if not (cert and key):
            raise ConfigError("--cert/--key", "a client certificate needs both its certificate and its key")
        pair = (_read(Path(key).expanduser(), "client key (--key, $OMP_TLS_KEY)", secret=True),
                _read(Path(cert).expanduser(), "client certificate (--cert, $OMP_TLS_CERT)"))
    elif settings.security.client_ca:
        raise ConfigError("security.client_ca", "is set: the services want a client certificate (mutual TLS); "
                          "give yours with --cert and --key or $OMP_TLS_CERT and $OMP_TLS_KEY")
    return load(settings, "omp", own_token=token, own_pair=pair)

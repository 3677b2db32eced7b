"""Making what ``[security]`` reads, for a host or a test: a local certificate authority, a
certificate per service (server and client use, so the same one serves mutual TLS), and bearer
tokens whose sha256 goes into the tokens file. ``omp security init`` does all of it at once.

Keys are EC P-256; every file with a secret in it is written atomically with mode 0600.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
import tomllib
from pathlib import Path

from omp_core.atomic import write_bytes
from omp_services.common.access import ROLES, SERVICES
from omp_services.common.security import NAME_RE, token_hash

DAY = dt.timedelta(days=1)


def _key():
    from cryptography.hazmat.primitives.asymmetric import ec
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem(cert) -> bytes:
    from cryptography.hazmat.primitives import serialization
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(folder: str | Path, name: str = "OMP local CA", days: int = 3650) -> tuple[Path, Path]:
    """A self-signed CA: ``folder/ca.crt`` and ``folder/ca.key`` (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    folder = Path(folder)
    key, now = _key(), dt.datetime.now(dt.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - DAY).not_valid_after(now + days * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    write_bytes(folder / "ca.key", _pem_key(key))
    write_bytes(folder / "ca.crt", _pem(cert))
    (folder / "ca.crt").chmod(0o644)
    return folder / "ca.crt", folder / "ca.key"


def make_certificate(folder: str | Path, name: str, hosts=("127.0.0.1", "localhost"), days: int = 825,
                     ca: tuple[Path, Path] | None = None, valid_from: dt.datetime | None = None
                     ) -> tuple[Path, Path]:
    """``folder/<name>.crt`` and ``.key`` (0600) signed by the CA in ``ca`` (default
    ``folder/ca/ca.crt`` and ``ca.key``, where ``init`` puts it): common name ``name`` (a service's certificate is its
    identity under mutual TLS), the ``hosts`` as subject alternative names, good for server and
    client use."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"name must be 1-64 letters, digits or _.:@-, got {name!r}")
    folder = Path(folder)
    ca_cert_path, ca_key_path = ca or (folder / "ca" / "ca.crt", folder / "ca" / "ca.key")
    ca_cert = x509.load_pem_x509_certificate(Path(ca_cert_path).read_bytes())
    ca_key = serialization.load_pem_private_key(Path(ca_key_path).read_bytes(), password=None)
    alt = []
    for h in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            alt.append(x509.DNSName(h))
    key = _key()
    start = valid_from or dt.datetime.now(dt.timezone.utc) - DAY
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + days * DAY)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    safe = name.replace(":", "_")
    write_bytes(folder / f"{safe}.key", _pem_key(key))
    write_bytes(folder / f"{safe}.crt", _pem(cert))
    (folder / f"{safe}.crt").chmod(0o644)
    return folder / f"{safe}.crt", folder / f"{safe}.key"


def add_token(tokens_file: str | Path, name: str, role: str, token_out: str | Path | None = None) -> str:
    """A new bearer token for principal ``name`` with ``role``: its sha256 appended to the tokens
    file (created 0600), the token itself written to ``token_out`` (0600) when given, and returned.
    A name already in the file is refused (remove its entry first to replace its token)."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"name must be 1-64 letters, digits or _.:@-, got {name!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if role == "service" and name.split(":", 1)[0] not in SERVICES:
        raise ValueError(f"a service principal is a service's name {SERVICES}, got {name!r}")
    tokens_file = Path(tokens_file)
    text = tokens_file.read_text(encoding="utf-8") if tokens_file.exists() else ""
    known = {p.get("name") for p in tomllib.loads(text).get("principal", [])} if text else set()
    if name in known:
        raise ValueError(f"name {name!r} is already in {tokens_file}")
    token = secrets.token_urlsafe(32)
    entry = f'\n[[principal]]\nname = "{name}"\nrole = "{role}"\ntoken_sha256 = "{token_hash(token)}"\n'
    if token_out is not None:
        write_bytes(token_out, (token + "\n").encode())
    write_bytes(tokens_file, (text + entry).encode())
    return token


def init(folder: str | Path, hosts=("127.0.0.1", "localhost"), admin: str = "admin") -> dict[str, Path]:
    """Everything a host needs to turn security on, in ``folder``: a CA (its key in ``folder/ca/``,
    to be kept offline once the certificates are made: whoever holds it can make any identity;
    its certificate also as ``folder/ca.crt``), a certificate for each service, a tokens file with
    a token for each service and one for ``admin`` (its token in ``folder/<admin>.token``).
    Returns the paths the ``[security]`` section names."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    (folder / "ca").mkdir(mode=0o700, exist_ok=True)
    ca = make_ca(folder / "ca")
    write_bytes(folder / "ca.crt", ca[0].read_bytes())
    (folder / "ca.crt").chmod(0o644)
    tokens = folder / "tokens.toml"
    for service in SERVICES:
        make_certificate(folder, service, hosts, ca=ca)
        add_token(tokens, service, "service", folder / f"{service}.token")
    add_token(tokens, admin, "admin", folder / f"{admin}.token")
    return {"tls_cert": folder / "{service}.crt", "tls_key": folder / "{service}.key", "tls_ca": folder / "ca.crt",
            "tokens_file": tokens, "token_file": folder / "{service}.token", "admin_token": folder / f"{admin}.token"}

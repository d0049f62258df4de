"""The local stack's identities: a certificate authority, the broker's certificate, and each principal's password.

Everything is made once under the stack's state and kept (out of git, never logged): `var/tls/` holds the CA and
the broker's and the registry's keys and certificates, `var/credentials/<principal>.env` and `.properties` the ready
client settings of each principal, for the Python clients and for Kafka's own tools. STACK_TLS=0 turns TLS off
(SASL/SCRAM over plain TCP, the registry on plain HTTP); the credentials say which, so a client never needs to know.

Principals: `admin` (a super user: provisioning, the tests and the operator), `registry` (the registry's storage
topics), one per service named in contracts/topics.toml, and `controller`, which only the brokers use between
themselves (SASL/PLAIN: SCRAM credentials live in the metadata the controller serves, so it cannot use them).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from contracts.env import credentials_dir, kafka_client
from contracts.manifest import RegistryStorage, load_manifest
from stack.errors import StackError
from stack.paths import STATE

__all__ = [
    "ADMIN", "CONTROLLER", "MECHANISM", "REGISTRY", "TLS", "ca_file", "client_config", "client_env", "keystore_file",
    "java_client", "lock_down", "make_certificates", "password", "principals", "protocol", "registry_certificate",
    "services", "write_credentials",
]

ADMIN, CONTROLLER = "admin", "controller"
MECHANISM = "SCRAM-SHA-512"
TLS_DIR = STATE / "tls"
TLS = os.environ.get("STACK_TLS", "1") != "0"


def protocol() -> str:
    """What clients speak to the local brokers."""
    return "SASL_SSL" if TLS else "SASL_PLAINTEXT"


def registry_storage() -> RegistryStorage:
    """Where the registry keeps the schemas, and as whom (the manifest's [registry])."""
    storage = load_manifest().registry
    if storage is None:
        raise StackError("contracts/topics.toml has no [registry] table: the stack cannot tell the registry where its"
                         " schemas go")
    return storage


REGISTRY = "registry"  # the principal the manifest's [registry] names (the storage format makes its SCRAM user)


def services() -> list[str]:
    """A principal per service of the manifest (its [service.*] tables)."""
    return sorted(load_manifest().consumer_groups)


def principals() -> list[str]:
    """Every principal with a password: the admin, the registry and each service."""
    return [ADMIN, REGISTRY, *services()]


def _secret_file(principal: str) -> Path:
    return STATE / "secrets" / principal


def password(principal: str) -> str:
    """The principal's password, made the first time it is asked for and kept (readable by this user only)."""
    path = _secret_file(principal)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(24))
    return path.read_text().strip()


def ca_file() -> Path:
    return TLS_DIR / "ca.pem"


def keystore_file() -> Path:
    """The broker's private key and certificate chain in one PEM file, as Kafka's PEM keystore reads it."""
    return TLS_DIR / "broker.pem"


def registry_certificate() -> tuple[Path, Path]:
    """The registry's certificate chain and its private key (PEM files, as Quarkus reads them)."""
    return TLS_DIR / "registry.pem", TLS_DIR / "registry-key.pem"


def make_certificates() -> None:
    """A CA, and certificates for 127.0.0.1 and localhost signed by it for the broker and the registry, unless they
    exist (valid for ten years). The CA is made once: a certificate added later is signed by the existing one."""
    TLS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = serialization.Encoding.PEM
    ca, ca_key = _authority()
    if not keystore_file().exists():
        key, broker = _server("kafka", ca, ca_key)
        _write_private(keystore_file(), _private(key) + broker.public_bytes(pem) + ca.public_bytes(pem))
    chain, key_file = registry_certificate()
    if not chain.exists() or not key_file.exists():
        key, registry = _server("registry", ca, ca_key)
        _write_private(key_file, _private(key))
        _write_private(chain, registry.public_bytes(pem) + ca.public_bytes(pem))


def _authority() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key_file = TLS_DIR / "ca-key.pem"
    if ca_file().exists() and key_file.exists():
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return x509.load_pem_x509_certificate(ca_file().read_bytes()), key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounting-events local CA")])
    now = dt.datetime.now(dt.UTC)
    ca = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_file, _private(key))
    ca_file().write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca, key


def _server(name: str, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
            ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A key and a certificate for a server on this machine, for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    certificate = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _private(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def lock_down(state: Path) -> None:
    """Make everything under the stack's state its owner's alone: folders 0700, files 0600 (files and folders of
    another user, PostgreSQL's under root, are left as they are). The state folder itself stays traversable (0711), so
    that such a user reaches its own folder in it; nobody else may list it."""
    if not state.exists():
        return
    me = os.getuid()
    state.chmod(0o711)
    for folder, folders, files in os.walk(state):
        for name in folders:
            path = Path(folder, name)
            if path.lstat().st_uid == me and not path.is_symlink():
                path.chmod(0o700)
        for name in files:
            path = Path(folder, name)
            if path.lstat().st_uid == me and not path.is_symlink():
                path.chmod(path.stat().st_mode & 0o700)


def _write_private(path: Path, data: bytes) -> None:
    path.touch(mode=0o600)
    path.write_bytes(data)


def client_env(principal: str, bootstrap_servers: str, registry_url: str) -> dict[str, str]:
    """The environment variables that make a client connect as `principal` (contracts.env reads them)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
        "KAFKA_SECURITY_PROTOCOL": protocol(),
        "KAFKA_SASL_MECHANISM": MECHANISM,
        "KAFKA_SASL_USERNAME": principal,
        "KAFKA_SASL_PASSWORD": password(principal),
        "SCHEMA_REGISTRY_URL": registry_url,
        "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": f"{principal}:{password(principal)}",
    }
    if TLS:
        env["KAFKA_SSL_CA_LOCATION"] = str(ca_file())
        env["SCHEMA_REGISTRY_SSL_CA_LOCATION"] = str(ca_file())
    return env


def client_config(principal: str, bootstrap_servers: str) -> dict[str, str | int | float | bool]:
    """librdkafka's settings for the stack's own clients (health probes, the registry's ACLs): the principal's
    client variables, read the way every client reads them."""
    return kafka_client(client_env(principal, bootstrap_servers, registry_url=""))


def write_credentials(bootstrap_servers: str, registry_url: str) -> Path:
    """<principal>.env and <principal>.properties for every principal, in CREDENTIALS_DIR; the folder."""
    folder = credentials_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    for principal in principals():
        env = client_env(principal, bootstrap_servers, registry_url)
        _write_private(folder / f"{principal}.env", "".join(f"{k}={v}\n" for k, v in env.items()).encode())
        _write_private(folder / f"{principal}.properties", _java_properties(env).encode())
    return folder


def java_client(principal: str) -> dict[str, str]:
    """A Java client's security settings as `principal`."""
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{principal}"'
            f' password="{password(principal)}";')
    config = {"security.protocol": protocol(), "sasl.mechanism": MECHANISM, "sasl.jaas.config": jaas}
    if TLS:
        config |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(ca_file())}
    return config


def _java_properties(env: dict[str, str]) -> str:
    """The same settings for Kafka's Java tools (kafka-topics.sh --command-config ...)."""
    config = {"bootstrap.servers": env["KAFKA_BOOTSTRAP_SERVERS"], **java_client(env["KAFKA_SASL_USERNAME"])}
    return "".join(f"{key}={value}\n" for key, value in config.items())

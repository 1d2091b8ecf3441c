"""The test bed's certificates and keys, made once per state directory and then reused.

One CA signs everything: the API server's and kwok's serving certificates, and a client
certificate per component (the user name is the certificate's CN, the groups its O). ECDSA
P-256 keeps a cold start fast; the service account signing key is ECDSA too (ES256), which
kube-apiserver accepts for TokenRequest.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 3650
API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
CLIENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    # file stem: (user, groups)
    "admin": ("podlab-admin", ("system:masters",)),
    "controller-manager": ("system:kube-controller-manager", ()),
    "scheduler": ("system:kube-scheduler", ()),
    "kwok": ("podlab-kwok", ("system:masters",)),
    "runner": ("podlab-pod-runner", ("system:masters",)),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
}
"""Every client of the API server; kwok and the pod runner act for many nodes, so they are
cluster admins rather than `system:node:<name>` (NodeRestriction binds a node to itself)."""


@dataclass(frozen=True)
class Pki:
    """Paths of the files in `directory` (see `ensure_pki`)."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def sa_key(self) -> Path:
        return self.directory / "sa.key"

    @property
    def sa_pub(self) -> Path:
        return self.directory / "sa.pub"

    def cert(self, stem: str) -> Path:
        return self.directory / f"{stem}.crt"

    def key(self, stem: str) -> Path:
        return self.directory / f"{stem}.key"


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )


def _name(common_name: str, organizations: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _issue(
    pki: Pki,
    stem: str,
    subject: x509.Name,
    *,
    server_names: tuple[str, ...] = (),
    server_ips: tuple[str, ...] = (),
    client: bool = False,
) -> None:
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [ExtendedKeyUsageOID.SERVER_AUTH]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if server_names or server_ips:
        alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
        alternatives += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(pki.key(stem), key)
    pki.cert(stem).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def issue_client(pki: Pki, stem: str, user: str, groups: tuple[str, ...] = ()) -> None:
    """A client certificate for one more API user (a benchmark's hub, say), made once."""
    if not pki.cert(stem).exists():
        _issue(pki, stem, _name(user, groups), client=True)


def ensure_pki(directory: Path, server_ips: tuple[str, ...]) -> Pki:
    """Create what is missing in `directory`; existing files are kept (a warm start reuses
    them, so kubeconfigs and tokens issued earlier stay valid)."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if not pki.ca_cert.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = _name("podlab-kube-ca")
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_key(pki.ca_key, key)
        pki.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if not pki.sa_key.exists():
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pki.sa_key, key)
        pki.sa_pub.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if not pki.cert("apiserver").exists():
        _issue(
            pki,
            "apiserver",
            _name("kube-apiserver"),
            server_names=API_SERVER_NAMES,
            server_ips=server_ips,
        )
    if not pki.cert("kwok-serving").exists():
        _issue(
            pki, "kwok-serving", _name("kwok"), server_names=("localhost",), server_ips=server_ips
        )
    for stem, (user, groups) in CLIENTS.items():
        if not pki.cert(stem).exists():
            _issue(pki, stem, _name(user, groups), client=True)
    return pki

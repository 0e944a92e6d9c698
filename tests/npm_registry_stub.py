"""A stand-in for registry.npmjs.org that says a newer aws-cdk exists, reached through a proxy.

The CDK CLI's version check asks ``https://registry.npmjs.org/aws-cdk/latest`` through the
proxy in ``HTTPS_PROXY`` and trusts the CA bundle in ``AWS_CA_BUNDLE``. This stub is that
proxy: it accepts ``CONNECT registry.npmjs.org:443``, terminates TLS with a certificate for
that name signed by a throw-away CA, and answers with a newer version. So a test can make the
CLI's "Newer version of CDK is available" notice appear offline and deterministically, and
see whether something asked at all. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOST = "registry.npmjs.org"
NEWER_VERSION = "2.9999.0"


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a leaf for HOST signed by it: (ca.pem, leaf.pem, leaf-key.pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ecs-playground test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = (directory / "ca.pem", directory / "leaf.pem", directory / "leaf-key.pem")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return paths


class NpmRegistryStub:
    """The proxy; ``requests`` lists every path the CLI asked the registry for."""

    def __init__(self, directory: Path) -> None:
        self.ca_bundle, leaf, leaf_key = _certificates(directory)
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(leaf, leaf_key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self.requests: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to reach the registry through this stub."""
        proxy = f"http://127.0.0.1:{self.port}"
        return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": "",
                "AWS_CA_BUNDLE": str(self.ca_bundle)}

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError), client:
            client.settimeout(10)
            head = _read_head(client)
            if not head.startswith(f"CONNECT {HOST}:443 ".encode()):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with self._tls.wrap_socket(client, server_side=True) as tls:
                request = _read_head(tls).decode("latin-1")
                path = request.split(" ", 2)[1]
                self.requests.append(path)
                body = json.dumps(
                    {"name": "aws-cdk", "version": NEWER_VERSION}
                    if path == "/aws-cdk/latest" else {"name": "aws-cdk"}
                ).encode()
                tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                            b"connection: close\r\ncontent-length: "
                            + str(len(body)).encode() + b"\r\n\r\n" + body)

    def __enter__(self) -> NpmRegistryStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()
        self._thread.join(timeout=5)


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextlib.contextmanager
def npm_registry_stub(directory: Path) -> Iterator[NpmRegistryStub]:
    """Run the stub for the duration of a ``with`` block."""
    with NpmRegistryStub(directory) as stub:
        yield stub

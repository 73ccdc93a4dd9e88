"""Throwaway TLS material for the emulated endpoints (trustme).

The Azure SDK refuses bearer tokens over plain HTTP, so the emulator speaks HTTPS with a certificate issued by a CA
that exists only for the life of the process. Clients trust it by pointing `connection_verify=` (Azure) or
`verify=` (botocore) at `ca_pem_path`.

One `TlsMaterial` can be shared by several servers (ARM and AWS) so the app needs a single CA bundle.
"""
from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterable

import trustme

DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


class TlsMaterial:
    """A trustme CA, a server certificate for `hosts`, and the CA written as PEM to a private temp dir."""

    def __init__(self, hosts: Iterable[str] = DEFAULT_HOSTS, directory: str | None = None) -> None:
        self.hosts = tuple(hosts)
        self.ca = trustme.CA(organization_name="mdc-aws emulator")
        self.server_cert = self.ca.issue_cert(*self.hosts)
        self._own_dir = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="mdc-aws-tls-")
        os.makedirs(self.directory, exist_ok=True)
        self.ca_pem_path = os.path.join(self.directory, "emulator-ca.pem")
        self.ca.cert_pem.write_to_path(self.ca_pem_path)
        self._lock = threading.Lock()
        self._closed = False

    def server_context(self) -> ssl.SSLContext:
        """A fresh server-side context presenting the leaf certificate (plus chain)."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (for raw aiohttp/ssl tests)."""
        ctx = ssl.create_default_context(cafile=self.ca_pem_path)
        return ctx

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem.bytes()

    def cleanup(self) -> None:
        """Remove the temp dir (only if this object created it)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._own_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


def make_tls(hosts: Iterable[str] = DEFAULT_HOSTS, directory: str | None = None) -> TlsMaterial:
    return TlsMaterial(hosts, directory)

"""How the portal proves itself to Microsoft: the client secret, or a certificate.

    in_use(app=None)        -> Credential | None   (None: no M365_CLIENT_ID or neither credential)
    oauth_session(**kw)     Authlib's requests OAuth2Session authenticating with it
    flask_client_kwargs()   the same for Authlib's Flask client (sign-in)
    create_certificate(path, common_name, days)  -> Credential   (the CLI's key pair + certificate)

M365_CLIENT_CERTIFICATE names a PEM file holding the private key and its certificate; when it is
set it is used instead of M365_CLIENT_SECRET. Each token request then carries a client assertion
(`private_key_jwt`, RFC 7523): a JWT signed RS256 whose header names the certificate by its
thumbprints `x5t` (base64url SHA-1) and `x5t#S256` (base64url SHA-256) and whose claims are
`aud` = the token endpoint, `iss` = `sub` = the client id, a fresh `jti`, `nbf`/`iat` and a
ten-minute `exp`. The key never leaves this process and is never logged.

An expired certificate is refused here, before Microsoft is asked (CertificateExpired).
"""

import base64
import datetime
import hashlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from authlib.common.urls import add_params_to_qs
from authlib.integrations.requests_client import OAuth2Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import current_app
from flask_babel import gettext as _
from joserfc import jwt
from joserfc.jwk import RSAKey

from portal.config import ConfigError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 600
SECRET, CERTIFICATE = "secret", "certificate"
_CACHE_KEY = "m365_credential"


class CertificateExpired(Exception):
    """The configured certificate is past its expiry; `message` says so in an admin's words."""

    def __init__(self, credential):
        self.message = _(
            "The portal's Microsoft certificate (M365_CLIENT_CERTIFICATE, thumbprint %(thumbprint)s) "
            "expired on %(date)s. Nothing was stored or removed; the operator must create a new "
            "certificate (flask m365-certificate) and upload it to the app registration.",
            thumbprint=credential.thumbprint,
            date=credential.not_after.strftime("%Y-%m-%d"),
        )
        super().__init__(self.message)


@dataclass(frozen=True)
class Credential:
    """The credential in use: kind SECRET or CERTIFICATE (with the certificate's facts)."""

    kind: str
    path: str = ""
    thumbprint: str = ""  # hex SHA-1, as the Azure portal shows it
    x5t: str = ""
    x5t_s256: str = ""
    not_after: datetime.datetime | None = None
    private_key_pem: bytes = b""

    def expired(self, now=None):
        """Whether the certificate is past its expiry (a secret never is, as far as we know)."""
        now = now or datetime.datetime.now(datetime.UTC)
        return self.kind == CERTIFICATE and self.not_after is not None and now >= self.not_after

    def describe(self):
        """One line for the settings page and `doctor` (never the key or the secret)."""
        if self.kind == SECRET:
            return _("Client secret (M365_CLIENT_SECRET)")
        return _(
            "Certificate %(thumbprint)s (M365_CLIENT_CERTIFICATE), valid until %(date)s",
            thumbprint=self.thumbprint,
            date=self.not_after.strftime("%Y-%m-%d"),
        )


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_certificate(path):
    """The Credential of a PEM file with a private key and its certificate; ConfigError if unusable."""
    try:
        data = Path(path).read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
        cert = x509.load_pem_x509_certificate(data)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"M365_CLIENT_CERTIFICATE {path}: a PEM file with an unencrypted private key and its "
            f"certificate is needed ({exc.__class__.__name__}: {exc})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or cert.public_key() != key.public_key():
        raise ConfigError(f"M365_CLIENT_CERTIFICATE {path}: the certificate is not the RSA key's")
    der = cert.public_bytes(serialization.Encoding.DER)
    return Credential(
        kind=CERTIFICATE,
        path=str(path),
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
        x5t=_b64url(hashlib.sha1(der).digest()),
        x5t_s256=_b64url(hashlib.sha256(der).digest()),
        not_after=cert.not_valid_after_utc,
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


def in_use(app=None):
    """The credential the portal authenticates with (the certificate file read once per change)."""
    app = app or current_app._get_current_object()
    config = app.config
    if not config.get("M365_CLIENT_ID"):
        return None
    path = config.get("M365_CLIENT_CERTIFICATE") or ""
    if not path:
        return Credential(kind=SECRET) if config.get("M365_CLIENT_SECRET") else None
    try:
        stamp = (path, os.stat(path).st_mtime_ns)
    except OSError:
        stamp = (path, None)
    cached = app.extensions.get(_CACHE_KEY)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_certificate(path))
        app.extensions[_CACHE_KEY] = cached
    return cached[1]


class CertificateAssertion:
    """Authlib client-auth method `private_key_jwt` with Microsoft's header (x5t, x5t#S256)."""

    name = "private_key_jwt"

    def __init__(self, credential, clock=time.time):
        self.credential = credential
        self.clock = clock

    def assertion(self, client_id, token_endpoint):
        """A fresh signed client assertion for one token request."""
        if self.credential.expired():
            raise CertificateExpired(self.credential)
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "x5t": self.credential.x5t}
        header["x5t#S256"] = self.credential.x5t_s256
        claims = {
            "aud": token_endpoint,
            "iss": client_id,
            "sub": client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        return jwt.encode(header, claims, RSAKey.import_key(self.credential.private_key_pem))

    def __call__(self, auth, method, uri, headers, body):
        params = [
            ("client_id", auth.client_id),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", self.assertion(auth.client_id, uri)),
        ]
        body = add_params_to_qs(body or "", params)
        if "Content-Length" in headers:
            headers["Content-Length"] = str(len(body))
        return uri, headers, body


def oauth_session(app=None, **kwargs):
    """Authlib's requests OAuth2Session with the credential in use (secret or certificate).

    With a certificate, every token request signs a new client assertion; an expired certificate
    raises CertificateExpired at that moment, before anything is sent.
    """
    app = app or current_app._get_current_object()
    credential = in_use(app)
    if credential is None or credential.kind == SECRET:
        secret = app.config["M365_CLIENT_SECRET"]
        return OAuth2Session(client_id=app.config["M365_CLIENT_ID"], client_secret=secret, **kwargs)
    session = OAuth2Session(
        client_id=app.config["M365_CLIENT_ID"], token_endpoint_auth_method=CertificateAssertion.name, **kwargs
    )
    session.register_client_auth_method(CertificateAssertion(credential))
    return session


def flask_client_kwargs(app=None):
    """The credential's arguments for Authlib's Flask client (portal.m365.oauth)."""
    app = app or current_app._get_current_object()
    credential = in_use(app)
    if credential is None or credential.kind == SECRET:
        return {"client_secret": app.config.get("M365_CLIENT_SECRET", "")}, {}
    return (
        {"client_secret": None, "client_auth_methods": [CertificateAssertion(credential)]},
        {"token_endpoint_auth_method": CertificateAssertion.name},
    )


def create_certificate(path, common_name, days=730, now=None):
    """Write a new RSA key + self-signed certificate to `path` (PEM, mode 0600; refuses to overwrite).

    Returns (Credential, certificate PEM): the public part to upload to the app registration.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem + cert_pem)
    return load_certificate(path), cert_pem.decode()

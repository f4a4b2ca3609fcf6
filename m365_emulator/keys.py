"""The RS256 signing key of the emulated identity platform, its JWKS entry and ID-token signing."""

import base64
import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class SigningKey:
    """One RSA key with a self-signed certificate, published like Microsoft's keys (kid == x5t)."""

    def __init__(self):
        self.key = RSAKey.generate_key(2048, private=True)
        private = self.key.private_key
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "accounts.emulator.local")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(private, hashes.SHA256())
        )
        der = cert.public_bytes(serialization.Encoding.DER)
        self.kid = _b64url(hashlib.sha1(der).digest())
        self.x5c = base64.b64encode(der).decode()

    def jwk(self, issuer):
        """The public key as a JWKS entry (with Microsoft's `x5t`, `x5c`, `issuer` extras)."""
        public = self.key.as_dict(private=False)
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": public["n"],
            "e": public["e"],
            "x5c": [self.x5c],
            "issuer": issuer,
        }

    def sign(self, claims):
        """An RS256 JWT with header typ/alg/kid."""
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        return jwt.encode(header, claims, self.key)

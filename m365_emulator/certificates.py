"""Certificate credentials: certificates registered on an app, and the client assertions
(`private_key_jwt`, RFC 7523) the token endpoint verifies against them.

    register(app, pem, now)          -> the stored certificate (thumbprints, expiry)
    verify_assertion(app_lookup, form, audience, now) -> the app, or raises AssertionRefused

Microsoft looks the key up by the header's `x5t#S256` (base64url SHA-256 thumbprint) or `x5t`
(SHA-1), checks the signature (RS256/PS256), `aud` = the token endpoint, `iss` = `sub` = the client
id, the validity window (`nbf`/`exp`, five minutes of clock skew) and that the certificate itself
has not expired; each failure is `invalid_client` (HTTP 401) with its AADSTS code.
"""

import base64
import datetime
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["RS256", "PS256"]
SKEW = datetime.timedelta(minutes=5)


class AssertionRefused(Exception):
    """The client assertion is not accepted: (AADSTS code, description)."""

    def __init__(self, code, description):
        super().__init__(description)
        self.code, self.description = code, description


def _b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def register(app, pem):
    """Add a certificate (PEM, public part) to an app registration; returns its JSON description."""
    cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    entry = {
        "x5t": _b64url(hashlib.sha1(der).digest()),
        "x5t#S256": _b64url(hashlib.sha256(der).digest()),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "public_key": cert.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    }
    certificates = [c for c in app.get("certificates", []) if c["x5t#S256"] != entry["x5t#S256"]]
    app["certificates"] = certificates + [entry]
    return {k: v for k, v in entry.items() if k != "public_key"}


def _header(assertion):
    try:
        return json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
    except (ValueError, IndexError):
        raise AssertionRefused(50027, "JWT token is invalid or malformed.") from None


def _certificate(app, header):
    for cert in app.get("certificates", []):
        if header.get("x5t#S256") == cert["x5t#S256"] or header.get("x5t") == cert["x5t"]:
            return cert
    thumbprint = header.get("x5t#S256") or header.get("x5t") or ""
    raise AssertionRefused(
        700027,
        "Client assertion failed signature validation. [Reason - The key was not found., "
        f"Thumbprint of key used by client: '{thumbprint}', Please visit the Azure Portal, Graph "
        "Explorer or directly use MS Graph to see configured keys for app Id "
        f"'{app['client_id']}'.]",
    )


def verify_assertion(app, assertion, audiences, now):
    """Check a client assertion for `app`; raises AssertionRefused. `audiences`: accepted `aud`s."""
    header = _header(assertion)
    cert = _certificate(app, header)
    if now > datetime.datetime.fromisoformat(cert["not_after"]):
        raise AssertionRefused(
            700027,
            "Client assertion contains an invalid signature. [Reason - The key used is expired., "
            f"Thumbprint of key used by client: '{cert['x5t']}']",
        )
    try:
        token = jwt.decode(assertion, RSAKey.import_key(cert["public_key"]), algorithms=ALGORITHMS)
    except JoseError:
        raise AssertionRefused(
            700027, "Client assertion contains an invalid signature. [Reason - The signature is invalid.]"
        ) from None
    _check_claims(app, token.claims, audiences, now)
    return app


def _check_claims(app, claims, audiences, now):
    if claims.get("aud") not in audiences:
        raise AssertionRefused(50027, f"Invalid JWT token. Token audience '{claims.get('aud')}' is invalid.")
    if claims.get("iss") != app["client_id"] or claims.get("sub") != app["client_id"]:
        raise AssertionRefused(
            700021, "Client assertion application identifier doesn't match 'client_id' parameter."
        )
    if not claims.get("jti"):
        raise AssertionRefused(50027, "Invalid JWT token. The 'jti' claim is missing.")
    moment = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
        raise AssertionRefused(50027, "Invalid JWT token. The 'exp' and 'nbf' claims are required.")
    if exp + SKEW.total_seconds() < moment or nbf - SKEW.total_seconds() > moment:
        raise AssertionRefused(700024, "Client assertion is not within its valid time range.")

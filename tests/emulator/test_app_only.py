"""Application permissions in the emulator: app-only tokens (roles, tid), a missing service principal,
client assertions checked against registered certificates, and sign-in-frequency refusals."""

import base64
import datetime
import hashlib
import json
import time
import uuid

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from joserfc import jwt
from joserfc.jwk import RSAKey

from m365_emulator.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

from .flows import sign_in

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT = "https://graph.microsoft.com/.default"


def token_url(emulator, tenant="organizations"):
    return f"{emulator.authority}/{tenant}/oauth2/v2.0/token"


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token):
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def certificate(days=30, start=None):
    """(private key, certificate PEM, DER) of a fresh self-signed certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    start = start or datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key, pem, cert.public_bytes(serialization.Encoding.DER)


def assertion(key, der, client_id, audience, **overrides):
    """A client assertion as Microsoft documents it (x5t#S256 header, aud/iss/sub/jti/nbf/exp)."""
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "x5t#S256": b64url(hashlib.sha256(der).digest())}
    claims = {"aud": audience, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()), "nbf": now}
    claims["exp"] = now + 600
    claims.update(overrides)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(header, claims, RSAKey.import_key(pem))


def app_with_certificate(emulator, pem):
    client_id = str(uuid.uuid4())
    emulator.control("POST", "apps", {"client_id": client_id, "certificates": [pem], "redirect_uris": []})
    emulator.grant_consent(client_id)
    return client_id


def by_assertion(emulator, client_id, signed):
    return requests.post(
        token_url(emulator, emulator.tenant_id),
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "scope": DEFAULT,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


def test_app_only_token_carries_roles_tid_and_idtyp_app(emulator):
    emulator.grant_consent()
    claims = claims_of(emulator.app_token())
    assert claims["roles"] == ["User.Read.All", "GroupMember.Read.All"]
    assert claims["tid"] == emulator.tenant_id and claims["idtyp"] == "app"
    assert claims["appid"] == DEMO_CLIENT_ID and "scp" not in claims and "upn" not in claims


def test_withdrawn_consent_gives_a_token_without_roles_and_graph_answers_403(emulator):
    emulator.grant_consent()
    emulator.withdraw_consent()
    token = emulator.app_token()
    assert "roles" not in claims_of(token)
    users = requests.get(f"{emulator.graph_url}/users", headers={"Authorization": f"Bearer {token}"})
    assert users.status_code == 403 and users.json()["error"]["code"] == "Authorization_RequestDenied"


def test_missing_service_principal_is_invalid_client_7000229(emulator):
    url = token_url(emulator, emulator.tenant_id)
    data = {"grant_type": "client_credentials", "scope": DEFAULT}
    never = requests.post(url, data=data, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    assert never.status_code == 401 and never.json()["error_codes"] == [7000229]
    emulator.grant_consent()
    emulator.control("DELETE", f"service-principals/{DEMO_CLIENT_ID}")
    deleted = requests.post(url, data=data, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
    assert deleted.json()["error"] == "invalid_client" and deleted.json()["error_codes"] == [7000229]


def test_client_assertion_signed_with_the_registered_certificate_is_accepted(emulator):
    key, pem, der = certificate()
    client_id = app_with_certificate(emulator, pem)
    audience = token_url(emulator, emulator.tenant_id)
    answer = by_assertion(emulator, client_id, assertion(key, der, client_id, audience))
    assert answer.status_code == 200, answer.text
    listed = emulator.control("GET", f"apps/{client_id}/certificates")
    assert listed[0]["x5t#S256"] == b64url(hashlib.sha256(der).digest())


def test_client_assertions_microsoft_refuses(emulator):
    key, pem, der = certificate()
    client_id = app_with_certificate(emulator, pem)
    audience = token_url(emulator, emulator.tenant_id)
    other_key, _pem, _der = certificate()
    cases = {
        700027: assertion(other_key, der, client_id, audience),  # signature does not verify
        50027: assertion(key, der, client_id, "https://elsewhere.example/token"),  # wrong aud
        700021: assertion(key, der, client_id, audience, iss="someone-else"),
        700024: assertion(key, der, client_id, audience, exp=int(time.time()) - 3600),
    }
    for code, signed in cases.items():
        answer = by_assertion(emulator, client_id, signed)
        assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
        assert answer.json()["error_codes"] == [code], (code, answer.text)


def test_expired_certificate_is_refused_with_700027(emulator):
    key, pem, der = certificate(days=1)
    client_id = app_with_certificate(emulator, pem)
    emulator.advance_clock(days=2)
    signed = assertion(key, der, client_id, token_url(emulator, emulator.tenant_id), exp=2**40)
    answer = by_assertion(emulator, client_id, signed)
    assert answer.status_code == 401 and answer.json()["error_codes"] == [700027]
    assert "expired" in answer.json()["error_description"]


def test_sign_in_frequency_refuses_refresh_tokens_with_70043(emulator):
    client, token, _nonce = sign_in(emulator)
    emulator.control("POST", "tokens/revoke", {"reason": "sign_in_frequency"})
    answer = requests.post(
        token_url(emulator),
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET),
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert answer.json()["error_codes"] == [70043]

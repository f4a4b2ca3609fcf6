"""Certificate credentials (private_key_jwt): the CLI that makes them, sign-in, admin consent and the
sync authenticating with them against the emulator, the expiry on the page and in `doctor`."""

import datetime
import hashlib
import os
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from portal.doctor import FAIL, OK, WARN, check_m365_credential
from portal.extensions import db
from portal.m365 import apponly, credentials, tokens
from portal.models import M365Connection
from tests import m365_helpers as m365
from tests.m365_helpers import connections
from tests.sync_helpers import book, import_users, sync, users

NOW = datetime.datetime.now(datetime.UTC)


def make_certificate(tmp_path, days=365, now=None):
    """A key + certificate file; returns (path, certificate PEM)."""
    path = str(tmp_path / f"m365-{uuid.uuid4().hex[:8]}.pem")
    _credential, pem = credentials.create_certificate(path, "Portal test", days, now=now)
    return path, pem


def use_certificate(app, emulator, path, pem):
    """Register an app that has only this certificate (no secret) and point the portal at it."""
    client_id = str(uuid.uuid4())
    emulator.control(
        "POST", "apps", {"client_id": client_id, "certificates": [pem], "redirect_uris": [m365.REDIRECT_URI]}
    )
    app.config.update(M365_CLIENT_ID=client_id, M365_CLIENT_SECRET="", M365_CLIENT_CERTIFICATE=path)
    return client_id


@pytest.fixture
def portal(app, world, emulator, tmp_path):
    """Acme's admin; the portal authenticates to the emulator with a certificate only."""
    portal_client = m365.connect_customer(
        app,
        emulator,
        world.acme,
        world.alice,
        connection=None,
        recipients="it@acme.example",
        sync_active=True,
        SYNC_LOCK_WAIT=5,
    )
    use_certificate(app, emulator, *make_certificate(tmp_path))
    return portal_client


def test_cli_writes_key_and_certificate_0600_and_prints_only_the_public_part(app, tmp_path):
    path = tmp_path / "portal.pem"
    result = app.test_cli_runner().invoke(args=["m365-certificate", "--out", str(path), "--days", "90"])
    assert result.exit_code == 0, result.output
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert "BEGIN CERTIFICATE" in result.output and "PRIVATE KEY" not in result.output
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert f"Thumbprint (SHA-1): {thumbprint}" in result.output
    assert f"Valid until: {cert.not_valid_after_utc:%Y-%m-%d}" in result.output
    again = app.test_cli_runner().invoke(args=["m365-certificate", "--out", str(path)])
    assert again.exit_code != 0 and "never overwritten" in again.output


def test_delegated_sign_in_and_refresh_with_a_certificate(app, world, emulator, portal):
    m365.sign_in(portal)
    connection = db.session.scalar(select(M365Connection))
    assert connection.connection_type == "delegated" and tokens.decrypt(connection.refresh_token_encrypted)
    assert "Certificate " in m365.flashes(portal)  # the settings page names the credential in use
    everyone = users(emulator)
    job = import_users(app, world.acme, [everyone["adele.vance"]["id"]])  # refresh token + assertion
    assert job.status == "succeeded", job.error


def test_application_permissions_with_a_certificate_connect_and_sync(app, world, emulator, portal):
    m365.connect_application(portal)
    connection = db.session.scalar(select(M365Connection))
    assert connection.connection_type == "application"
    everyone = users(emulator)
    assert import_users(app, world.acme, [everyone["adele.vance"]["id"]]).status == "succeeded"
    assert sync(app, world.acme).status == "succeeded"


def test_a_certificate_microsoft_does_not_know_is_refused_and_nothing_stored(app, emulator, portal, tmp_path):
    path, _pem = make_certificate(tmp_path)  # not uploaded to the app registration
    app.config["M365_CLIENT_CERTIFICATE"] = path
    m365.sign_in(portal)  # the code redemption carries an assertion signed with the unknown key
    assert connections() == 0
    assert "AADSTS700027" in m365.flashes(portal)


def test_expired_certificate_is_refused_before_microsoft_is_asked(app, emulator, portal, tmp_path):
    path, _pem = make_certificate(tmp_path, days=1, now=NOW - datetime.timedelta(days=10))
    app.config["M365_CLIENT_CERTIFICATE"] = path
    response = portal.post("/m365/connect", data={"connection_type": "application"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/m365/")
    page = m365.flashes(portal)
    assert "certificate (M365_CLIENT_CERTIFICATE" in page and "expired on" in page
    assert connections() == 0


def test_expired_certificate_fails_the_sync_removes_and_marks_nothing(app, world, emulator, portal, tmp_path):
    m365.connect_application(portal)
    everyone = users(emulator)
    import_users(app, world.acme, [everyone[n]["id"] for n in ("adele.vance", "juergen.mueller")])
    apponly.forget(emulator.tenant_id)  # the cached token ran out
    app.config["M365_CLIENT_CERTIFICATE"] = make_certificate(tmp_path, 1, NOW - datetime.timedelta(days=3))[0]
    run = sync(app, world.acme)
    assert run.status == "failed" and "expired on" in run.message
    db.session.expire_all()
    connection = db.session.scalar(select(M365Connection))
    assert connection is not None and not connection.needs_reauth  # the customer did nothing wrong
    assert len(book(world.acme)) == 2


def test_doctor_names_the_credential_and_warns_before_the_certificate_expires(app, tmp_path):
    app.config.update(M365_CLIENT_ID="client", M365_CLIENT_SECRET="s", M365_CLIENT_CERTIFICATE="")
    assert check_m365_credential().status == OK
    assert "client secret" in check_m365_credential().text
    path, _pem = make_certificate(tmp_path, days=90)
    app.config["M365_CLIENT_CERTIFICATE"] = path
    fine = check_m365_credential()
    assert fine.status == OK and "valid until" in fine.text and path in fine.text
    soon = check_m365_credential(now=NOW + datetime.timedelta(days=70))
    assert soon.status == WARN and "expires on" in soon.text and "m365-certificate" in soon.hint
    expired = check_m365_credential(now=NOW + datetime.timedelta(days=91))
    assert expired.status == FAIL and "expired on" in expired.text
    (tmp_path / "broken.pem").write_text("not a pem")
    app.config["M365_CLIENT_CERTIFICATE"] = str(tmp_path / "broken.pem")
    assert check_m365_credential().status == FAIL

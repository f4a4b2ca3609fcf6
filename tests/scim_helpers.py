"""Entra provisioning test helpers: a customer provisioned by Entra with a token, and its SCIM client.

provisioned(customer)        directory source "scim" and a new token: returns the secret
Scim(app, secret)            .get/.post/.put/.patch/.delete(path, json) on /scim/v2 with the token;
                             .set_manager(user_id, manager_id)
"""

from portal.extensions import db
from portal.scim import tokens

PREFIX = "/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def provisioned(customer, source="scim"):
    customer.directory_source = source
    _token, secret = tokens.create(customer, "Entra", "test")
    db.session.commit()
    return secret


class Scim:
    """Requests to /scim/v2 as Entra sends them (bearer token, application/scim+json)."""

    def __init__(self, app, secret, address="127.0.0.1"):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.address = address

    def request(self, method, path, json=None, **kwargs):
        response = self.client.open(
            PREFIX + path,
            method=method,
            json=json,
            headers={**self.headers, **kwargs.pop("headers", {})},
            content_type="application/scim+json",
            environ_base={"REMOTE_ADDR": self.address},
            **kwargs,
        )
        db.session.expire_all()
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path, json, **kwargs):
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path, operations, **kwargs):
        return self.request("PATCH", path, json={"schemas": [PATCH_OP], "Operations": operations}, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def set_manager(self, user_id, manager_id):
        """Entra's manager PATCH (enterprise extension): `user_id` reports to `manager_id`."""
        manager = {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": str(manager_id)}
        return self.patch(f"/Users/{user_id}", [manager])


def entra_user(user_name, email, object_id, first="Ann", last="Lee", **extra):
    """A POST /Users body as Entra's default mapping sends it."""
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": object_id,
        "userName": user_name,
        "active": True,
        "displayName": f"{first} {last}",
        "name": {"givenName": first, "familyName": last, "formatted": f"{first} {last}"},
        "emails": [{"primary": True, "type": "work", "value": email}],
        **extra,
    }

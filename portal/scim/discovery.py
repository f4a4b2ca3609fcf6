"""What /scim/v2 announces (RFC 7644 §4): ServiceProviderConfig, ResourceTypes, Schemas.

The schemas are scim2-models' User, EnterpriseUser and Group narrowed to what the contact book
stores, so a client (and scim2-tester) writes only attributes that are kept:

    User      userName, name.givenName/familyName, displayName (read-only: the contact's full
              name), title, userType, preferredLanguage, active, emails (value, type "work",
              required: a contact has an email), addresses (type "work", formatted,
              country), externalId
    Enterprise  employeeNumber, organization, department, manager (value, $ref, displayName)
    Group     displayName, members (users only), externalId

Requests are read with scim2-models' full models under POLICY (Microsoft Entra's deviations
tolerated: capitalised ops, "False", remove with a value list, filtered paths that match nothing);
attributes outside the narrowed schemas are accepted and not stored.
"""

from functools import cache

from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    Meta,
    Mutability,
    Patch,
    Required,
    ResourceType,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    User,
)

USER = User[EnterpriseUser]
ENTERPRISE = str(EnterpriseUser.__schema__)
MAX_RESULTS = 200  # the most resources one list answer holds (count is capped to it)

POLICY = ScimPolicy(
    unknown=ScimPolicy.Unknown.ignore,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
)

# Attribute name -> the sub-attributes kept (None: a simple attribute).
USER_ATTRIBUTES = {
    "userName": None,
    "name": {"givenName", "familyName"},
    "displayName": None,
    "title": None,
    "userType": None,
    "preferredLanguage": None,
    "active": None,
    "emails": {"value", "type"},
    "addresses": {"formatted", "country", "type"},
}
ENTERPRISE_ATTRIBUTES = {
    "employeeNumber": None,
    "organization": None,
    "department": None,
    "manager": {"value", "$ref", "displayName"},
}
GROUP_ATTRIBUTES = {"displayName": None, "members": {"value", "$ref", "type", "display"}}


def _narrowed(model, keep, adjust=None):
    schema = model.to_schema()
    attributes = []
    for attribute in schema.attributes:
        if attribute.name not in keep:
            continue
        subs = keep[attribute.name]
        if subs is not None:
            attribute.sub_attributes = [sub for sub in attribute.sub_attributes if sub.name in subs]
        attributes.append(attribute)
    schema.attributes = attributes
    for name, sub, changes in adjust or ():
        target = next(a for a in schema.attributes if a.name == name)
        if sub:
            target = next(s for s in target.sub_attributes if s.name == sub)
        for key, value in changes.items():
            setattr(target, key, value)
    return schema


@cache
def schemas():
    """The published schemas (without meta.location; the route adds it)."""
    work = {"canonical_values": ["work"]}
    user = _narrowed(
        User,
        USER_ATTRIBUTES,
        [
            ("displayName", None, {"mutability": Mutability.read_only}),
            ("active", None, {"required": Required.true}),  # every contact is active or not
            ("emails", None, {"required": Required.true}),
            ("emails", "value", {"required": Required.true}),
            ("emails", "type", work),
            ("addresses", "type", work),
        ],
    )
    enterprise = _narrowed(EnterpriseUser, ENTERPRISE_ATTRIBUTES)
    group = _narrowed(
        Group,
        GROUP_ATTRIBUTES,
        [
            ("members", "$ref", {"reference_types": ["User"]}),
            ("members", "type", {"canonical_values": ["User"]}),
            ("members", "display", {"mutability": Mutability.read_only}),
        ],
    )
    return (user, enterprise, group)


def resource_types():
    return (ResourceType.from_resource(USER), ResourceType.from_resource(Group))


def service_provider_config():
    return ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=False),
        authentication_schemes=[
            AuthenticationScheme(
                type=AuthenticationScheme.Type.oauthbearertoken,
                name="OAuth Bearer Token",
                description="The Secret Token of the customer's Entra provisioning page.",
                primary=True,
            )
        ],
    )


def with_location(resource, location):
    """`resource` with meta.location (and meta.resourceType) set for the answer."""
    resource.meta = resource.meta or Meta()
    resource.meta.location = location
    resource.meta.resource_type = resource.meta.resource_type or type(resource).__name__
    return resource

"""Property sets of the Graph resources the emulator serves (user, group, device, orgContact)."""

USER_DEFAULT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]
USER_PROPS = USER_DEFAULT + [
    "accountEnabled",
    "userType",
    "department",
    "otherMails",
    "proxyAddresses",
    "createdDateTime",
    "creationType",
    "externalUserState",
    "mailNickname",
    "companyName",
    "city",
    "country",
    "usageLocation",
    "employeeId",
    "employeeType",
    "deletedDateTime",
]
# The manager relationship: stored on the user as the manager's id under this key; never a
# $select-able property of /users (Graph answers it through $expand=manager), but selectable on
# /users/delta, where it comes back as manager@delta.
MANAGER = "manager"
# Returned only when reading a single user; on a collection $select of these answers 501.
USER_SINGLE_ONLY = [
    "aboutMe",
    "birthday",
    "hireDate",
    "interests",
    "mySite",
    "pastProjects",
    "preferredName",
    "responsibilities",
    "schools",
    "skills",
    "mailboxSettings",
]
USER_FILTERABLE = {
    "id",
    "displayName",
    "givenName",
    "surname",
    "mail",
    "userPrincipalName",
    "accountEnabled",
    "userType",
    "department",
    "jobTitle",
    "mailNickname",
    "otherMails",
    "proxyAddresses",
    "createdDateTime",
    "creationType",
    "externalUserState",
    "companyName",
    "city",
    "country",
    "employeeId",
    "employeeType",
    "officeLocation",
    "preferredLanguage",
    "usageLocation",
}
# Mutable through the control API and tracked by /users/delta.
USER_WRITABLE = [p for p in USER_PROPS if p not in ("id", "deletedDateTime")]

GROUP_DEFAULT = [
    "id",
    "createdDateTime",
    "description",
    "displayName",
    "groupTypes",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "proxyAddresses",
    "resourceProvisioningOptions",
    "securityEnabled",
    "visibility",
]
GROUP_PROPS = GROUP_DEFAULT + ["deletedDateTime"]
GROUP_FILTERABLE = {
    "id",
    "displayName",
    "description",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "groupTypes",
    "resourceProvisioningOptions",
    "proxyAddresses",
    "createdDateTime",
}
GROUP_WRITABLE = [p for p in GROUP_PROPS if p not in ("id", "deletedDateTime")]

DEVICE_PROPS = ["id", "displayName", "deviceId", "operatingSystem", "accountEnabled"]
CONTACT_PROPS = ["id", "displayName", "givenName", "surname", "mail"]
SP_PROPS = ["id", "displayName", "appId"]

ODATA_TYPES = {
    "user": "#microsoft.graph.user",
    "group": "#microsoft.graph.group",
    "device": "#microsoft.graph.device",
    "orgContact": "#microsoft.graph.orgContact",
    "servicePrincipal": "#microsoft.graph.servicePrincipal",
}
CAST_TYPES = {"microsoft.graph." + k: k for k in ODATA_TYPES}
ENTITY_SETS = {
    "user": "users",
    "group": "groups",
    "device": "devices",
    "orgContact": "contacts",
    "servicePrincipal": "servicePrincipals",
}
PROPS_BY_TYPE = {
    "user": USER_PROPS,
    "group": GROUP_PROPS,
    "device": DEVICE_PROPS,
    "orgContact": CONTACT_PROPS,
    "servicePrincipal": SP_PROPS,
}
DEFAULT_BY_TYPE = {
    "user": USER_DEFAULT,
    "group": GROUP_DEFAULT,
    "device": DEVICE_PROPS,
    "orgContact": CONTACT_PROPS,
    "servicePrincipal": SP_PROPS,
}

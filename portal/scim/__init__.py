"""Entra provisioning: the SCIM 2.0 endpoint Microsoft Entra ID pushes users and groups to.

routes.py     /scim/v2: bearer token, limits, SCIM errors, one activity row per request
discovery.py  ServiceProviderConfig, ResourceTypes, Schemas; the models and Entra's PATCH policy
users.py      a contact as a SCIM User and back
groups.py     a provisioned contact group as a SCIM Group
query.py      SCIM filters (eq, and) as SQL; paging
writes.py     what a write does to the book (through portal.book and portal.sync.apply)
activity.py   the provisioning activity log: record, recent, last_cycle_counts
limits.py     the per-token rate limit
tokens.py     the customer's bearer tokens: create (shown once), authenticate, revoke
source.py     which directory source writes the book: the one switch
cli.py        flask scim-token create
"""

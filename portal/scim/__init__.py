"""Entra provisioning: the SCIM 2.0 endpoint Microsoft Entra ID pushes users and groups to.

tokens.py   the customer's bearer tokens: create (shown once), authenticate, revoke
"""

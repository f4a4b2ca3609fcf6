"""The Microsoft client: sign-in (oauth), admin consent (consent), app-only tokens (apponly, credentials),
the Graph client (graph), token encryption (tokens), the permission list (permissions).

No database, mail or sync code: what the portal stores about a connection is portal.sync.connection.
"""

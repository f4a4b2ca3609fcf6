"""The M365 interface: Microsoft sign-in and consent, the Graph client, the sync page."""

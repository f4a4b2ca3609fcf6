"""The "Synchronize contacts" page (blueprint `m365`, /m365/): the connection, its settings, the audit log."""

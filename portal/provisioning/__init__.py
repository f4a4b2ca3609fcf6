"""The "Entra provisioning" page (blueprint `provisioning`, /provisioning/): the directory source,
the Tenant URL, the tokens, the setup guide and the provisioning activity log."""

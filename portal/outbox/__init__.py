"""The Notifications page: what the portal sent (or will send) to whom."""

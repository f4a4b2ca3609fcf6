"""Manual mode: load the tenant's users, search and select them, "Import N users"."""

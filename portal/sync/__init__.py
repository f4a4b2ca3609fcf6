"""The sync engine, free of request code: plan (pure), apply (one transaction), service (orchestration)."""

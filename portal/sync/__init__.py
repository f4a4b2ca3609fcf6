"""The sync engine, free of request code: fetch, plan (pure), apply (one transaction), service
(orchestration); the stored M365 connection (connection) and the directory cache (directory)."""

"""The sync pages (blueprint `sync`, /sync/): history, one run, "Sync now", the preview, held deletions."""

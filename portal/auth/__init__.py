"""Sign-in, sessions and the one place that scopes queries to the signed-in admin."""

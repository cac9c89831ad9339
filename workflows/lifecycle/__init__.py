"""Promote, rollback and canary: zero-downtime traffic moves between a model's deployments."""

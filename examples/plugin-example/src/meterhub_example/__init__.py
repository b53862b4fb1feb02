"""Example meterhub plugins: one of each kind (see meterhub's docs/plugins.md)."""

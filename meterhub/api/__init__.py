"""The Litestar app: routes, live feed, auth (built by a later issue)."""

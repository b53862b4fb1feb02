"""The plugin contract, the loader and built-in plugins (built by a later issue)."""

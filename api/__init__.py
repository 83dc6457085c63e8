"""HTTP API, pages and the `aidflow` command line."""

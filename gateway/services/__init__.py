"""Business logic with no Flask in it: called from routes, the worker, the CLI and tests."""

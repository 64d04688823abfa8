"""The worker process: the Huey queue, its tasks and periodic jobs (the pipeline is in services)."""

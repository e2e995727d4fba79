"""Submitting and following jobs: ECS grouper tasks, stack outputs, local runs, progress."""

"""Scheduled jobs: planners that read only what is due and workers that apply one item each."""

"""Capacity-limited placements (issue 9): seats per (location, category)."""

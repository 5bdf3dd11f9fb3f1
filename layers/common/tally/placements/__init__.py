"""Capacity-limited placements: sponsored seats per (location, category), reserved at checkout."""

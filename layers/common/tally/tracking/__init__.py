"""Click and view tracking: events in, deduplicated counters out."""

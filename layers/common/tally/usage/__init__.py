"""Usage metering and quotas (issue 7, usage half): metrics, events, aggregates, notices."""

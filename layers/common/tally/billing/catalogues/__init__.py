"""The catalogues Tally ships, as JSON data (see tally.billing.catalogue_files)."""

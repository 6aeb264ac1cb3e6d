"""The console's pages, one module per section: search, user, journal, bulk."""

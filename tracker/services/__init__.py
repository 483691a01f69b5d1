"""Use cases, one function per CLI verb. Each owns its transaction, returns data and never prints."""

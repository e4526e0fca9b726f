"""Dataset readers: GTZAN, FMA and the synthetic demo corpus, each to one Track table."""

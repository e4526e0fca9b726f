"""JAX/Flax deep models trained from the feature store."""

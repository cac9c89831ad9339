"""The DeployModel flow: resolve the snapshot, start replicas, wait ready, switch traffic."""

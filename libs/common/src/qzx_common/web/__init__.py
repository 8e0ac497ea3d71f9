"""HTTP plumbing shared by the services: error model, health and metrics, auth dependency."""

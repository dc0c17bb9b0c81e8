"""Monolith vs microservices: launch both deployments, load them, report figures."""

"""Shared test helpers: hypothesis strategies, brute-force references, graph builders, CLI
runners and numerical checks, one module per topic (imported as ``support.<topic>``)."""

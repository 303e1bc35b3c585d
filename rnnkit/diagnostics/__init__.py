"""Diagnostics of trained and untrained recurrent networks (gradient flow through time)."""

"""Simple baselines every task reports beside its model (the floor to beat)."""

"""Pipeline stages: one module per stage, each a function with explicit inputs/outputs plus its CLI."""

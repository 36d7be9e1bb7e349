"""Prefect flows that drive the stages of filo.stages on a schedule."""

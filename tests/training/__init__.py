"""Tests of filo.training, filo.tracking and `filo train`."""

"""Spherical scattering pipeline (temporary init)."""

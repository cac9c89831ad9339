"""Plinth server package: workflows."""

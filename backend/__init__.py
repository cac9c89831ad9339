"""Plinth server package: backend."""

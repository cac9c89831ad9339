"""Plinth server package: serving."""

"""Obtaining a version's binary: the store, downloads, builds from recipes, and the check against filter.yaml."""

"""Catalog files -> models -> findings: the layer every other layer stands on."""

"""Datasets (grain sources), image I/O, transforms and sampling."""

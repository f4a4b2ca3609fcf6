"""Reseller and customer master data."""

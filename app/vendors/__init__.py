"""Vendors and their contracts: read by everyone entitled to the vendor, managed by admins."""

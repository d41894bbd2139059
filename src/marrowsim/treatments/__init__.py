"""Treatments as data: regimens in scenario files and NONMEM-style dosing tables."""

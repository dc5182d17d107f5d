"""Operator tools that work against AWS and the emulators alike: the stack's names, the DLQ, reconcile.

Kept out of the Lambda zip (scripts/build_zip.py) and out of the Lambda path (ruff's banned imports).
"""

"""What AWS does for us in the cloud, done locally. The Lambda path never imports this package."""

from __future__ import annotations

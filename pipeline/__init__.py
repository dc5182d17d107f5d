"""imgpipe: an event-driven image pipeline that runs the same code on an emulator and on AWS."""

from __future__ import annotations

__version__ = "0.1.0"

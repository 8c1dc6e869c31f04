"""Kept while imports move to harness.mindbox_standin."""

from harness.mindbox_standin import MindboxStandIn, Planned, Recorded

__all__ = ["MindboxStandIn", "Planned", "Recorded"]

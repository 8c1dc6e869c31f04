"""The Mindbox operations API client: a rendered request in, an Outcome out. No Django."""

from mindbox_integration.mindbox.client import MindboxClient, Outcome, OutcomeKind

__all__ = ["MindboxClient", "Outcome", "OutcomeKind"]

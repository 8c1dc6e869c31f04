"""The Mindbox operations API client: a rendered request in, an Outcome out. No Django."""

from mindbox_integration.mindbox.client import MindboxClient, Outcome, OutcomeKind
from mindbox_integration.mindbox.guard import Policy

__all__ = ["MindboxClient", "Outcome", "OutcomeKind", "Policy"]

"""The Mindbox operations API client: a rendered request in, an Outcome out. No Django models or
settings (request.py fills templates with core.rendering, itself pure)."""

from mindbox_integration.mindbox.client import MindboxClient, Outcome, OutcomeKind
from mindbox_integration.mindbox.guard import Policy

__all__ = ["MindboxClient", "Outcome", "OutcomeKind", "Policy"]

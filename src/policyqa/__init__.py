"""policyqa: semantic search and cited answers over Chinese policy and plan documents."""

__version__ = "0.1.0"

"""grassroots: the data warehouse for community governance (369 grassroots plan)."""

__version__ = "0.1.0"

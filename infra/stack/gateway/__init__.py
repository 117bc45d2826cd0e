"""The nginx gateway in front of both APIs and the token issuer: its config and template."""

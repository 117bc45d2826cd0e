"""Bearer-token authentication: verify OAuth2 JWTs against a JWKS, and scopes on routes.

Protect a route with `require_scope(Scope.LEDGER_READ)`; build the app with
`install_authentication(app, settings.auth)`. See docs/auth.md.
"""

from infra.security.auth.dependencies import (
    DEVELOPMENT_PRINCIPAL,
    install_authentication,
    principal_or_none,
    require_owner_access,
    require_scope,
)
from infra.security.auth.errors import (
    AuthConfigurationError,
    AuthError,
    InsufficientScopeError,
    OwnerAccessDeniedError,
    RejectionReason,
    TokenRejectedError,
)
from infra.security.auth.openapi import SECURITY_SCHEME_NAME, operation_scopes
from infra.security.auth.principal import Principal
from infra.security.auth.scopes import KNOWN_SCOPES, Scope
from infra.security.auth.verifier import TokenVerifier

__all__ = [
    "DEVELOPMENT_PRINCIPAL",
    "KNOWN_SCOPES",
    "SECURITY_SCHEME_NAME",
    "AuthConfigurationError",
    "AuthError",
    "InsufficientScopeError",
    "OwnerAccessDeniedError",
    "Principal",
    "RejectionReason",
    "Scope",
    "TokenRejectedError",
    "TokenVerifier",
    "install_authentication",
    "operation_scopes",
    "principal_or_none",
    "require_owner_access",
    "require_scope",
]

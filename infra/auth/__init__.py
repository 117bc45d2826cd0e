"""Bearer-token authentication: verify OAuth2 JWTs against a JWKS, and scopes on routes.

Protect a route with `require_scope(Scope.LEDGER_READ)`; build the app with
`install_authentication(app, settings.auth)`. See docs/auth.md.
"""

from infra.auth.dependencies import (
    DEVELOPMENT_PRINCIPAL,
    install_authentication,
    principal_or_none,
    require_owner_access,
    require_scope,
)
from infra.auth.errors import (
    AuthConfigurationError,
    AuthError,
    InsufficientScopeError,
    OwnerAccessDeniedError,
    RejectionReason,
    TokenRejectedError,
)
from infra.auth.openapi import SECURITY_SCHEME_NAME, operation_scopes
from infra.auth.principal import Principal
from infra.auth.scopes import KNOWN_SCOPES, Scope
from infra.auth.verifier import TokenVerifier

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

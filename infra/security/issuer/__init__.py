"""The local OAuth2 token issuer: client-credentials grant, JWKS, key rotation."""

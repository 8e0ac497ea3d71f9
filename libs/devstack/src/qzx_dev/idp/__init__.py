"""The development identity provider `qzx dev` starts: an account with a password for every seeded
person, RS256 tokens with the contract's claims, and the JWKS the services verify them against.

It speaks the small part of OAuth 2.0 / OpenID Connect that the console uses with a production
provider such as Keycloak (the password grant on the token endpoint, the JWKS, the discovery
document), so the console is configured the same way for both. Development only.
"""

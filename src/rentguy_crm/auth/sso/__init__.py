"""Staff single sign-on: OpenID Connect authorization code flow with PKCE against the tenant's provider."""

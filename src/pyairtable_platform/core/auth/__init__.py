"""Authentication inside core: signing keys, access tokens, request identity, permissions."""

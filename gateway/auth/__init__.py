"""Authentication at the gateway: password hashing, signing keys, tokens, users and clients."""

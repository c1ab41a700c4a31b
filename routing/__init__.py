"""The masking domain: tenants, the DID pool, sessions and the Redis store. No HTTP here."""

"""Masking sessions: the record, what a tenant may ask of one, listing them, and their life from open to end."""

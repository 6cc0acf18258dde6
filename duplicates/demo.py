"""The demo's duplicates: filled in a later step."""

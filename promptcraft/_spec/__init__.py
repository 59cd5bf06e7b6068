"""The surface language: what a format file says (model), how it is read (toml) and checked (validate)."""

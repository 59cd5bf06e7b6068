"""The Jinja world: transformers' template environment, verification. jinja2 is an optional extra."""

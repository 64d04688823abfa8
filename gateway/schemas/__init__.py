"""marshmallow schemas for requests and responses (also the source of the OpenAPI summary)."""

"""The admin REST API's plumbing: tokens, problem details, the endpoint registry, OpenAPI."""

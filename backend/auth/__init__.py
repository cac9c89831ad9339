"""Authentication and authorization: API keys, scopes, and where each route's scope is declared.

Modules: `scopes` (scope strings, what each grants, `Access` levels routes declare), `keys` (key
format and hashing), `registry` (the one table of REST routes and GraphQL root fields -> Access),
`cache` (the in-memory key cache the hot path authenticates from), `http` (the ASGI middleware:
body size limit, authentication, REST authorization), `graphql` (the root-field guard).
"""

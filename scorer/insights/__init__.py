"""Publication context from a registry GraphQL *insights* endpoint.

`schema.graphql` is the previewed schema; `client` asks any endpoint serving it (gql over httpx,
imported lazily so that importing this package stays cheap); `server` is the local mock server
(ariadne on uvicorn) answering from `data` files of publication records.
"""

"""The UI's pages, one module per page (each exposes ``routes()``)."""

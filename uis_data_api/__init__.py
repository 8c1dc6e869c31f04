"""UIS's Data API (JSON-RPC 2.0): a client with typed errors, and the mapping of its report rows
to the mnemonics UIS's notifications carry. No Django (docs/uis-data-api.md says what is known)."""

"""The limits `corral-mirror serve` holds clients to (the request target's own is in
`corral.mirror.request_target`). Apart so the command line reads them without aiohttp."""

MAX_HEADERS = 64  # a client sends a dozen; 431 beyond
MAX_HEADER_BYTES = 8192  # all header lines together, as nginx's default buffer; 431 beyond
KEEPALIVE = 75  # seconds an idle connection is kept, as nginx's keepalive_timeout
MAX_CONNECTIONS = 1024  # open at once, as nginx's worker_connections; `--max-connections`

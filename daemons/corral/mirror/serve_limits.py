"""The limits `corral-mirror serve` holds clients to (the request target's own is in
`corral.mirror.request_target`). Apart so the command line reads them without aiohttp."""

from corral.mirror.request_target import MAX_TARGET

# a request line holds a method (llhttp knows none over 16 bytes), the target, two
# spaces and "HTTP/1.1"; 414 beyond, as soon as the line is that long
MAX_REQUEST_LINE = MAX_TARGET + 32
MAX_HEADERS = 64  # a client sends a dozen; 431 beyond
MAX_HEADER_BYTES = 8192  # all header lines together, as nginx's default buffer; 431 beyond
HEADER_TIMEOUT = 10  # s to get a head a client sends in one packet, as Go's ReadHeaderTimeout; 408
KEEPALIVE = 75  # seconds an idle connection is kept, as nginx's keepalive_timeout
MAX_CONNECTIONS = 1024  # open at once, as nginx's worker_connections; `--max-connections`
# a response must be taken at this average pace (as sync's own --min-rate), after a grace
# for a slow start: a client that reads slowly or never cannot hold a connection forever
MIN_SEND_RATE = 16 * 1024  # bytes/s; `--min-send-rate`
SEND_GRACE = 30  # seconds; `--send-grace`

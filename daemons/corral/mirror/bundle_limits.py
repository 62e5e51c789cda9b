"""The limits `import` holds a bundle to, in one place (the command line reads them
without loading the tar machinery). Payload sizes need no limit of their own: a payload
member must have the size its signed release declares."""

MAX_MEMBERS = 1024  # 257 roots (the chain walk's bound) and ~250 channels of 3 members
MAX_DOCUMENT_BYTES = 16 << 20  # all documents together: a few KiB each, kept in memory
MAX_BUNDLE_BYTES = 64 << 30  # decompressed bytes in all; `import --max-bytes` for more
MAX_HEADER_BYTES = 64 << 10  # one member's headers (ours take 512 bytes; PAX, long names)

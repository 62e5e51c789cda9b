"""corral-mirror: a mirror of signed releases that any static web server can serve.

Layout of a mirror directory (every path is a plain file, so nginx, `corral-mirror
serve` or a USB stick all work):

    root.json                  current root of trust (same bytes as root/<N>.json)
    root/<N>.json              every root version, immutable; clients walk N+1, N+2...
    channels.json              {"channels": [...]}: discovery only, not signed
    channels/<C>/release.json  the channel's current signed release document
    channels/<C>/<serial>.json every release ever signed for C, immutable (history)
    pool/<sha256>/<name>       payloads, immutable and content-addressed
    .corral-mirror/            private work area (partial downloads, import staging);
                               never served, never exported

Documents are JSON envelopes `{"signed": TEXT, "signatures": [...]}` with detached,
ASCII-armored OpenPGP signatures (see `corral.trust.envelope`); the fields of root and
release documents are in `corral.trust.root` and `corral.trust.release`.

Invariants:
- A document is made visible by one rename after everything it points to is in
  place (pool file first, then history, then `release.json`), so a reader sees the old
  release or the new one, never half of either.
- Nothing in `pool/`, `root/` or the history is changed in place; `prune` alone
  deletes, and never the current or previous release of a channel.
- `sync` and `import` verify every document and payload against the pinned keys and
  threshold before anything becomes visible (trust library, same code as clients).
- A channel's serial only grows; a root version N+1 is signed by N's threshold.
"""

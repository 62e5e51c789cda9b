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

Clients (`corral.mirror.client`, used by corral-updated) pin key fingerprints and a
threshold. At first contact they accept the mirror's `root.json` only if that many
pinned keys signed it; afterwards they keep the accepted root and follow
`root/<N+1>.json` links, each signed by the previous root's threshold, so keys can be
rotated without touching the hosts. `sync` and `import` do the same with the
downstream mirror's own root in place of a client's state.

Command line: `corral-mirror init|publish|promote|resign|keys|sync|export|import|
serve|prune` (see `corral.mirror.cli`). Payloads are received in one pass, written
with O_DIRECT and hashed beside the socket (`corral.mirror.receive`).

Invariants:
- A document is made visible by one rename after everything it points to is in
  place (pool file first, then history, then `release.json`), so a reader sees the old
  release or the new one, never half of either.
- Nothing in `pool/`, `root/` or the history is changed in place; `prune` alone
  deletes, never a channel's current release, and the previous one only when told
  (`--keep 1`); `sync` keeps the previous release for rollback.
- A root of trust expires; clients, `sync` and `publish` refuse an expired one until
  the operator renews it (`keys DIR renew`, signed by the keys' threshold).
- `sync` and `import` verify every document and payload against the pinned keys and
  threshold before anything becomes visible (trust library, same code as clients).
- A channel's serial only grows; a root version N+1 is signed by N's threshold.
"""

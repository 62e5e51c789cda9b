"""corral-mirror: a mirror of signed releases that any static web server can serve.

Every path of a mirror directory is a plain file (ARCHITECTURE.md, "The mirror
directory", has the layout); documents are JSON envelopes with detached OpenPGP
signatures (`corral.trust.envelope`). Clients pin key fingerprints and a threshold and
follow root rotations signed by the previous root's threshold; `sync` and `import`
verify the same way before anything becomes visible.

Invariants: a document becomes visible by one rename after everything it points to is
in place; nothing in `pool/`, `root/` or a channel's history changes in place (`prune`
alone deletes, never a channel's current release); a channel's serial only grows.
"""

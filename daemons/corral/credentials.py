"""Store credentials on a daemon's command line, the same flags for every daemon.

The flags are handed to every `corral.client.Client` the daemon makes (heartbeats
included) through corral.client's CORRAL_* variables, the ones corralctl and the
Ansible plugins read too. A password comes only from a file or $CORRAL_PASSWORD, never
from the command line, where `ps` would show it.
"""

from __future__ import annotations

import argparse
import os

from corral import client


def add_arguments(group: argparse._ActionsContainer) -> None:
    group.add_argument(
        "--ca-file", help=f"CA verifying the store's TLS certificate (else ${client.CA_FILE_ENV})"
    )
    group.add_argument(
        "--cert-file", help=f"client certificate for the store (else ${client.CERT_FILE_ENV})"
    )
    group.add_argument(
        "--key-file", help=f"client key for --cert-file (else ${client.KEY_FILE_ENV})"
    )
    group.add_argument(
        "--username",
        help=f"store user (else ${client.USERNAME_ENV}; password: $CORRAL_PASSWORD[_FILE])",
    )
    group.add_argument(
        "--password-file",
        help=f"file holding the store user's password (else ${client.PASSWORD_FILE_ENV})",
    )


def export(args: argparse.Namespace) -> None:
    """Make the given flags the defaults of every Client in this process."""
    for flag, name in (
        (args.ca_file, client.CA_FILE_ENV),
        (args.cert_file, client.CERT_FILE_ENV),
        (args.key_file, client.KEY_FILE_ENV),
        (args.username, client.USERNAME_ENV),
        (args.password_file, client.PASSWORD_FILE_ENV),
    ):
        if flag:
            os.environ[name] = flag

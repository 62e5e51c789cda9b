# Copyright: Corral developers
# Apache License 2.0, or GNU General Public License v3.0+ (https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: Apache-2.0 OR GPL-3.0-or-later
"""`Refused`: a module will not do what was asked, and its message says why.

Raised by pure planning code (a failed compare, deleting a non-empty directory without
recursive); the module base turns it into `fail_json(msg=...)`.
"""

from __future__ import annotations


class Refused(Exception):
    """The wanted change cannot be made; the message says why, naming the key."""

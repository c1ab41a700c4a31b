"""The key that signs the console's cookies: MASQ_SECRET_KEY, or one made once and kept in MASQ_DATA_DIR."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from routing import settings

FILE = "console-secret-key"  # in MASQ_DATA_DIR, readable by its owner only


def signing_key(config: Mapping[str, Any]) -> str:
    """Return MASQ_SECRET_KEY; when it is unset, the key in MASQ_DATA_DIR/console-secret-key, made the first time.

    The file serves every web process of one host (the first to start writes it, the others read it); hosts
    that share a public URL must be given one MASQ_SECRET_KEY instead. Raise ValueError on a malformed key.
    """
    given = settings.secret_key(config)
    if given:
        return given
    folder = str(config["MASQ_DATA_DIR"])
    path = os.path.join(folder, FILE)
    if not os.path.exists(path):
        _make(folder, path)
    with open(path) as file:
        return settings.secret_key({"MASQ_SECRET_KEY": file.read().strip()}) or _empty(path)


def _make(folder: str, path: str) -> None:
    """Write a new key to `path` whole, unless another process wrote one first (theirs is kept)."""
    os.makedirs(folder, exist_ok=True)
    draft = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
    with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write(secrets.token_hex(32))
    try:
        os.link(draft, path)  # appears with its content, or not at all
    except FileExistsError:
        pass
    finally:
        os.unlink(draft)


def _empty(path: str) -> str:
    raise ValueError(f"{path} holds no key: delete it, or set MASQ_SECRET_KEY")

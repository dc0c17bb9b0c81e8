"""Development secrets: a Django secret key and an RS256 key pair, generated once per checkout.

Only used when ``DEBUG=1`` and the corresponding variables are unset; the files live in a
git-ignored folder so every checkout gets its own and nothing secret is committed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _write_once(path: Path, data: bytes) -> None:
    """Create ``path`` atomically unless another process already did."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        os.link(tmp, path)  # fails if a concurrent process won the race: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def dev_secret_key(folder: Path) -> str:
    path = folder / "secret_key"
    if not path.exists():
        _write_once(path, secrets.token_urlsafe(50).encode())
    return path.read_text().strip()


def dev_key_pair(folder: Path) -> tuple[Path, Path]:
    """Paths of the development private and public PEM files, creating them if needed."""
    private_path, public_path = folder / "jwt_private.pem", folder / "jwt_public.pem"
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_once(private_path, pem)
    if not public_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_once(public_path, pub)
    return private_path, public_path

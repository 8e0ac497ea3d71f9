"""The provider's RSA signing key: kept in a file so that a restarted provider (and the tokens it
issued before) stays valid, or made fresh for one process when no file is given."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class SigningKey:
    private: rsa.RSAPrivateKey
    kid: str

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private, algorithm="RS256", headers={"kid": self.kid})


def load_or_create(path: Path | None) -> SigningKey:
    if path is not None and path.exists():
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey), f"{path} does not hold an RSA key"
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            path.touch(mode=0o600)
            path.write_bytes(pem)
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return SigningKey(private=private, kid=hashlib.sha256(der).hexdigest()[:16])

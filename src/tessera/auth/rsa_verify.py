"""RSA signature verification that keeps the GIL, for ID tokens verified on the event loop.

``cryptography`` lets go of the GIL while it verifies an RSA signature (20–50 µs for a
2 048-bit key). On the event loop that is a cost of its own: any runnable thread takes
the GIL meanwhile, most often the audit writer woken by the previous request's durable
event, and the loop then waits for the writer's next release before it runs again
(while the writer, running once per verification, commits its events in groups of two
or three instead of a dozen, each commit costing as much CPU time as several requests).
``tessera.auth.randomness`` avoids ``getrandom(2)`` for the same reason.

This module makes the very same OpenSSL calls ``cryptography`` makes for an RSA
verification (``EVP_DigestVerify`` with PKCS #1 v1.5 padding, or PSS with MGF1 over the
same hash and a salt as long as the digest: RS256/384/512, PS256/384/512), through the
``libcrypto`` Python's own ``ssl`` module is linked against, called with
``ctypes.PyDLL``, which holds the GIL during the call. A key is the public key
``cryptography`` loaded from the JWK (so every check of its loading still applies),
passed to OpenSSL as its SubjectPublicKeyInfo DER once, when it is loaded.

``available()`` is False when that ``libcrypto`` is not OpenSSL 3 or lacks a function
(``NativeRsaKey.load`` then answers None, and the caller verifies through
``cryptography`` as before). A signature this path does not accept is handed to
``cryptography`` by the caller (``id_tokens``): the libcrypto called here may be another
build than ``cryptography``'s, configured by the system (providers, properties), so a
refusal is always ``cryptography``'s, and the outcome of a verification never depends on
which path ran, only its cost does.
"""

from __future__ import annotations

import ctypes
import logging
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = ["NativeRsaKey", "available"]

log = logging.getLogger("tessera.oidc")

_RSA_PKCS1_PADDING = 1
_RSA_PKCS1_PSS_PADDING = 6
_OPENSSL_3 = 0x30000000
_DIGESTS = {"256": ("EVP_sha256", 32), "384": ("EVP_sha384", 48), "512": ("EVP_sha512", 64)}


class _Lib:
    """The libcrypto functions used, with their C signatures (every pointer a ``c_void_p``
    so that none is truncated to an int)."""

    def __init__(self) -> None:
        import _ssl  # the extension module linked against the libcrypto to use

        lib = ctypes.PyDLL(_ssl.__file__)  # PyDLL: a call keeps the GIL
        p, i, size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
        version = lib.OpenSSL_version_num
        version.argtypes, version.restype = [], ctypes.c_ulong
        if version() < _OPENSSL_3:  # the EVP_PKEY_CTX_set_rsa_* functions are macros before 3.0
            raise OSError("libcrypto is older than OpenSSL 3.0")
        self.d2i_PUBKEY = _fn(lib.d2i_PUBKEY, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long], p)
        self.EVP_PKEY_free = _fn(lib.EVP_PKEY_free, [p], None)
        self.EVP_MD_CTX_new = _fn(lib.EVP_MD_CTX_new, [], p)
        self.EVP_MD_CTX_free = _fn(lib.EVP_MD_CTX_free, [p], None)
        self.EVP_DigestVerifyInit = _fn(lib.EVP_DigestVerifyInit, [p, ctypes.POINTER(p), p, p, p], i)
        self.EVP_DigestVerify = _fn(lib.EVP_DigestVerify, [p, ctypes.c_char_p, size, ctypes.c_char_p, size], i)
        self.set_padding = _fn(lib.EVP_PKEY_CTX_set_rsa_padding, [p, i], i)
        self.set_pss_saltlen = _fn(lib.EVP_PKEY_CTX_set_rsa_pss_saltlen, [p, i], i)
        self.set_mgf1_md = _fn(lib.EVP_PKEY_CTX_set_rsa_mgf1_md, [p, p], i)
        self.ERR_clear_error = _fn(lib.ERR_clear_error, [], None)
        self.digests: dict[str, tuple[int, int]] = {}
        for bits, (name, length) in _DIGESTS.items():
            md = _fn(getattr(lib, name), [], p)()
            if not md:
                raise OSError(f"libcrypto has no {name}")
            self.digests[bits] = (md, length)


def _fn(fn: Any, argtypes: list[Any], restype: Any) -> Any:
    fn.argtypes, fn.restype = argtypes, restype
    return fn


def _open() -> _Lib | None:
    try:
        return _Lib()
    except (OSError, AttributeError, ImportError) as error:
        log.info("RSA signatures are verified through cryptography (libcrypto not usable directly: %s)", error)
        return None


_LIB = _open()


def available() -> bool:
    return _LIB is not None


class NativeRsaKey:
    """An RSA public key as OpenSSL holds it (an ``EVP_PKEY``), freed with this object."""

    __slots__ = ("_lib", "_pkey")

    def __init__(self, lib: _Lib, pkey: int) -> None:
        self._lib = lib
        self._pkey = pkey

    @classmethod
    def load(cls, key: object) -> NativeRsaKey | None:
        """``key`` (an RSA public key loaded by ``cryptography``) for OpenSSL, or None when
        it is not one or OpenSSL cannot be called directly."""
        lib = _LIB
        if lib is None or not isinstance(key, rsa.RSAPublicKey):
            return None
        der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        cursor = ctypes.c_char_p(der)
        pkey = lib.d2i_PUBKEY(None, ctypes.byref(cursor), len(der))
        if not pkey:
            lib.ERR_clear_error()
            return None
        return cls(lib, pkey)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``signing_input`` for ``alg``
        (RS256/384/512: PKCS #1 v1.5; PS256/384/512: PSS, MGF1 with the same hash, a
        salt as long as the digest)."""
        lib = self._lib
        family = alg[:2]
        if family not in ("RS", "PS"):
            raise ValueError(f"{alg[:8]} is not an RSA algorithm")
        md, digest_length = lib.digests[alg[2:]]
        pss = family == "PS"
        ctx = lib.EVP_MD_CTX_new()
        if not ctx:
            raise MemoryError("EVP_MD_CTX_new failed")
        try:
            pctx = ctypes.c_void_p()
            if lib.EVP_DigestVerifyInit(ctx, ctypes.byref(pctx), md, None, self._pkey) != 1 or not pctx:
                return False
            if pss:
                configured = (
                    lib.set_padding(pctx, _RSA_PKCS1_PSS_PADDING) > 0
                    and lib.set_pss_saltlen(pctx, digest_length) > 0
                    and lib.set_mgf1_md(pctx, md) > 0
                )
            else:
                configured = lib.set_padding(pctx, _RSA_PKCS1_PADDING) > 0
            if not configured:
                return False
            return bool(lib.EVP_DigestVerify(ctx, signature, len(signature), signing_input, len(signing_input)) == 1)
        finally:
            lib.EVP_MD_CTX_free(ctx)  # frees ``pctx`` too
            lib.ERR_clear_error()  # a refused signature leaves errors in this thread's queue

    def __del__(self) -> None:
        pkey, self._pkey = self._pkey, 0
        if pkey:
            self._lib.EVP_PKEY_free(pkey)

"""The web app's sealed cookies, read and written by the tests.

A cookie value is base64url(nonce ‖ XChaCha20-Poly1305(JSON)) with the
cookie's name as associated data, under the 32-byte key `reemploi up` is
given (services/web/src/session.rs, `Sealer`). The browser tests open the
session cookie a real sign-in set, change its expiry and seal it again, to
put a browser in front of an expired session. Pure Python (RFC 8439 and the
XChaCha20 draft) so that the tests need nothing but Playwright: it is small
data, and a wrong implementation cannot pass, since opening a cookie the
server sealed checks its Poly1305 tag.
"""

import base64
import hmac
import json
import os
import struct

NONCE_BYTES = 24
MASK = 0xFFFFFFFF


def _rotl(v, n):
    return ((v << n) & MASK) | (v >> (32 - n))


def _rounds(s):
    def quarter(a, b, c, d):
        s[a] = (s[a] + s[b]) & MASK
        s[d] = _rotl(s[d] ^ s[a], 16)
        s[c] = (s[c] + s[d]) & MASK
        s[b] = _rotl(s[b] ^ s[c], 12)
        s[a] = (s[a] + s[b]) & MASK
        s[d] = _rotl(s[d] ^ s[a], 8)
        s[c] = (s[c] + s[d]) & MASK
        s[b] = _rotl(s[b] ^ s[c], 7)

    for _ in range(10):
        quarter(0, 4, 8, 12)
        quarter(1, 5, 9, 13)
        quarter(2, 6, 10, 14)
        quarter(3, 7, 11, 15)
        quarter(0, 5, 10, 15)
        quarter(1, 6, 11, 12)
        quarter(2, 7, 8, 13)
        quarter(3, 4, 9, 14)


_SIGMA = struct.unpack("<4I", b"expand 32-byte k")


def _block(key, counter, nonce):
    state = list(_SIGMA) + list(struct.unpack("<8I", key)) + [counter] + list(struct.unpack("<3I", nonce))
    work = state[:]
    _rounds(work)
    return struct.pack("<16I", *((w + s) & MASK for w, s in zip(work, state)))


def _hchacha20(key, nonce16):
    state = list(_SIGMA) + list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    _rounds(state)
    return struct.pack("<8I", *(state[0:4] + state[12:16]))


def _chacha20(key, counter, nonce, data):
    out = bytearray()
    for i in range(0, len(data), 64):
        stream = _block(key, counter + i // 64, nonce)
        out += bytes(a ^ b for a, b in zip(data[i : i + 64], stream))
    return bytes(out)


def _poly1305(key, msg):
    r = int.from_bytes(key[:16], "little") & 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
    s = int.from_bytes(key[16:], "little")
    p = (1 << 130) - 5
    acc = 0
    for i in range(0, len(msg), 16):
        chunk = msg[i : i + 16]
        acc = (acc + int.from_bytes(chunk + b"\x01", "little")) * r % p
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(data):
    return b"\x00" * (-len(data) % 16)


def _tag(key, nonce, aad, ciphertext):
    poly_key = _block(key, 0, nonce)[:32]
    mac_data = (
        aad + _pad16(aad) + ciphertext + _pad16(ciphertext) + struct.pack("<QQ", len(aad), len(ciphertext))
    )
    return _poly1305(poly_key, mac_data)


def _subkey(key, nonce24):
    return _hchacha20(key, nonce24[:16]), b"\x00" * 4 + nonce24[16:]


def seal(key, name, plaintext):
    """The cookie value of `plaintext` for cookie `name`."""
    nonce = os.urandom(NONCE_BYTES)
    subkey, inner = _subkey(key, nonce)
    ciphertext = _chacha20(subkey, 1, inner, plaintext)
    sealed = nonce + ciphertext + _tag(subkey, inner, name.encode(), ciphertext)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode()


def open_sealed(key, name, value):
    """The plaintext of a cookie value; raises ValueError when it does not open."""
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if len(raw) < NONCE_BYTES + 16:
        raise ValueError("too short to be a sealed cookie")
    nonce, ciphertext, tag = raw[:NONCE_BYTES], raw[NONCE_BYTES:-16], raw[-16:]
    subkey, inner = _subkey(key, nonce)
    if not hmac.compare_digest(_tag(subkey, inner, name.encode(), ciphertext), tag):
        raise ValueError("the cookie does not open with this key")
    return _chacha20(subkey, 1, inner, ciphertext)


def open_session(key, value):
    """The session (a dict) in a `reemploi_session` cookie value."""
    return json.loads(open_sealed(key, "reemploi_session", value))


def seal_session(key, session):
    """A `reemploi_session` cookie value for `session`."""
    return seal(key, "reemploi_session", json.dumps(session).encode())

"""Libraries per department and who may see them: the ``--libraries`` file (TOML).

One server holds several libraries, each a corpus folder and its index folder. Users (a
login for the page and HTTP Basic) and tokens (``Authorization: Bearer``, for programs) are
granted libraries to read or to manage, directly or through groups::

    [libraries."督导室"]               # a name other than A-Z a-z 0-9 _ - is quoted
    corpus = "duchashi/corpus"          # paths relative to this file
    index_dir = "duchashi/index"

    [groups.supervision]
    read = ["督导室"]
    manage = ["督导室"]                  # manage implies read

    [users.wang]
    password_hash = "scrypt$16384$8$1$…"  # policyqa hash-password
    groups = ["supervision"]
    read = []                            # (optional) libraries granted to this user alone

    [tokens.stats-script]
    sha256 = "9f86d0…"                    # policyqa hash-password --token
    read = ["督导室"]

No password or token is stored: passwords as salted scrypt hashes, tokens (random, long) as
their SHA-256. Everything is checked when the file is read; an error names the file and key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

NAME_MAX = 40
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_TABLES = {"libraries", "groups", "users", "tokens"}
_LIBRARY_KEYS = {"corpus", "index_dir"}
_GRANT_KEYS = {"read", "manage", "groups"}


@dataclass(frozen=True)
class Grant:
    """The libraries a caller may read and those it may manage (manage implies read)."""

    read: frozenset[str] = frozenset()
    manage: frozenset[str] = frozenset()

    def __or__(self, other: "Grant") -> "Grant":
        return Grant(self.read | other.read, self.manage | other.manage)

    @classmethod
    def of(cls, read: Any = (), manage: Any = ()) -> "Grant":
        return cls(frozenset(read) | frozenset(manage), frozenset(manage))

    def only(self, names: Any) -> "Grant":
        """This grant narrowed to ``names`` (a client's choice, never widened by it)."""
        wanted = frozenset(names)
        return Grant(self.read & wanted, self.manage & wanted)


NO_ACCESS = Grant()


@dataclass(frozen=True)
class LibrarySpec:
    name: str
    corpus: Path
    index_dir: Path


@dataclass(frozen=True)
class Principal:
    """A user (``secret``: the password hash) or a token (``secret``: its SHA-256)."""

    name: str
    secret: str
    grant: Grant


# ---------------------------------------------------------------------------- secrets


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$<salt>$<hash>`` (base64), for ``password_hash``."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt)}${b64(digest)}"


def _parse_hash(stored: str) -> tuple[int, int, int, bytes, bytes]:
    kind, n, r, p, salt, digest = stored.split("$")
    if kind != "scrypt":
        raise ValueError(kind)
    return int(n), int(r), int(p), base64.b64decode(salt, validate=True), base64.b64decode(digest, validate=True)


def verify_password(stored: str, password: str) -> bool:
    try:
        n, r, p, salt, digest = _parse_hash(stored)
    except (ValueError, binascii.Error):
        return False
    got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(digest))
    return hmac.compare_digest(got, digest)


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password("", b"\0" * 16)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored as (``[tokens.<name>] sha256``)."""
    return hashlib.sha256(token.strip().encode("utf-8")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------- access


@dataclass
class Access:
    """The libraries file, read and checked: libraries, users and tokens with their grants."""

    path: Path
    libraries: dict[str, LibrarySpec]
    users: dict[str, Principal]
    tokens: dict[str, Principal]  # by SHA-256
    # verified (user, SHA-256 of password) pairs: scrypt costs ~50 ms, a REST client logs in per request
    _verified: set[tuple[str, str]] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``user`` exists with this password (the page's login and HTTP Basic)."""
        principal = self.users.get(user)
        if principal is None:
            verify_password(_dummy_hash(), password)  # the time a known user's check takes
            return False
        key = (user, token_digest(password))
        with self._lock:
            if key in self._verified:
                return True
        ok = verify_password(principal.secret, password)
        if ok:
            with self._lock:
                if len(self._verified) > 10_000:
                    self._verified.clear()
                self._verified.add(key)
        return ok

    def user_grant(self, user: str | None) -> Grant:
        principal = self.users.get(user or "")
        return principal.grant if principal is not None else NO_ACCESS

    def token_grant(self, token: str) -> Grant | None:
        """The grant of a bearer token (None: no such token)."""
        digest = token_digest(token)
        for stored, principal in self.tokens.items():
            if hmac.compare_digest(stored, digest):
                return principal.grant
        return None


def load_access(path: str | Path) -> Access:
    """Read and check a libraries file (see the module docstring); ``ConfigError`` names the
    file and the key of anything wrong."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the libraries file ({e.strerror or e})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not a valid TOML file ({e}); a name defined twice is refused too") from None
    where = _Where(path)
    where.known_keys(raw, _TABLES, "")
    libraries = _libraries(where, _table(where, raw, "libraries"))
    if not libraries:
        raise ConfigError(f"{path}: no [libraries.<name>] table: define at least one library")
    groups = {name: _grant(where, f"groups.{name}", body, libraries, {})
              for name, body in _table(where, raw, "groups").items()}
    users: dict[str, Principal] = {}
    for name, body in _table(where, raw, "users").items():
        key = f"users.{name}"
        where.known_keys(body, _GRANT_KEYS | {"password_hash"}, key)
        secret = body.get("password_hash")
        if not isinstance(secret, str):
            raise where.error(key + ".password_hash", "missing: set it to the output of 'policyqa hash-password' "
                              "(plain passwords are not stored)")
        try:
            _parse_hash(secret)
        except (ValueError, binascii.Error):
            raise where.error(key + ".password_hash", "not a 'scrypt$…' hash from 'policyqa hash-password'") from None
        users[name] = Principal(name, secret, _grant(where, key, body, libraries, groups))
    tokens: dict[str, Principal] = {}
    for name, body in _table(where, raw, "tokens").items():
        key = f"tokens.{name}"
        where.known_keys(body, _GRANT_KEYS | {"sha256"}, key)
        digest = str(body.get("sha256", "")).strip().lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise where.error(key + ".sha256", "needs the token's SHA-256, 64 hex digits ('policyqa hash-password --token')")
        if digest in tokens:
            raise where.error(key + ".sha256", f"the same token as [tokens.{tokens[digest].name}]")
        tokens[digest] = Principal(name, digest, _grant(where, key, body, libraries, groups))
    return Access(path, libraries, users, tokens)


@dataclass(frozen=True)
class _Where:
    path: Path

    def error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: [{key.rpartition('.')[0] or key}] {key.rpartition('.')[2]}: {what}"
                           if "." in key else f"{self.path}: {key}: {what}")

    def known_keys(self, body: dict, known: set[str], key: str) -> None:
        unknown = sorted(k for k in body if k not in known)
        if unknown:
            label = f"[{key}]" if key else "top level"
            raise ConfigError(f"{self.path}: {label}: unknown key(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known))}")


def _table(where: _Where, raw: dict, name: str) -> dict[str, dict]:
    table = raw.get(name, {})
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ConfigError(f"{where.path}: '{name}' must be tables: [{name}.<name>]")
    for key in table:
        check_name(where, f"{name}.{key}", key)
    return table


def check_name(where: _Where, key: str, name: str) -> None:
    if not name.strip() or name != name.strip() or len(name) > NAME_MAX or name in (".", "..") or any(
            c in "/:\\" or not c.isprintable() for c in name):
        raise ConfigError(f"{where.path}: [{key}]: a name needs 1-{NAME_MAX} printable characters, "
                          "no '/', ':' or '\\', no leading or trailing space, not '.' or '..'")


def _libraries(where: _Where, table: dict[str, dict]) -> dict[str, LibrarySpec]:
    out: dict[str, LibrarySpec] = {}
    seen: dict[Path, str] = {}
    for name, body in table.items():
        key = f"libraries.{name}"
        where.known_keys(body, _LIBRARY_KEYS, key)
        folders = {}
        for part in ("corpus", "index_dir"):
            value = body.get(part)
            if not isinstance(value, str) or not value.strip():
                raise where.error(f"{key}.{part}", "missing: a folder (relative to the libraries file)")
            folder = (where.path.parent / value).resolve()
            if folder in seen:
                raise where.error(f"{key}.{part}", f"{folder} is already used by [libraries.{seen[folder]}]")
            seen[folder] = name
            folders[part] = folder
        if not folders["corpus"].is_dir():
            raise where.error(f"{key}.corpus", f"folder {folders['corpus']} does not exist")
        out[name] = LibrarySpec(name, folders["corpus"], folders["index_dir"])
    return out


def _grant(where: _Where, key: str, body: dict, libraries: dict[str, LibrarySpec], groups: dict[str, Grant]) -> Grant:
    if key.startswith("groups."):
        where.known_keys(body, {"read", "manage"}, key)
    lists = {}
    for part, known in (("read", libraries), ("manage", libraries), ("groups", groups)):
        value = body.get(part, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise where.error(f"{key}.{part}", "must be a list of names")
        unknown = sorted(set(value) - set(known))
        if unknown:
            what = "library" if part != "groups" else "group"
            raise where.error(f"{key}.{part}", f"unknown {what}(s) {', '.join(unknown)}; "
                              f"known: {', '.join(sorted(known)) or 'none'}")
        lists[part] = value
    grant = Grant.of(lists["read"], lists["manage"])
    for group in lists["groups"]:
        grant = grant | groups[group]
    return grant

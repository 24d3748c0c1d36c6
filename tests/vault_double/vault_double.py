#!/usr/bin/env python3
"""A faithful HashiCorp Vault / OpenBao test double (standard library only).

Vault is not packaged for Debian 12, so the tests talk to this stand-in instead. It reproduces
the parts of the HTTP API that ocirender (and the python3-hvac client, used as a conformance
check) rely on, following reference section 4.9:

  * TLS (certificate and key given on the command line; optional client-certificate check) or
    plain HTTP; everything under /v1/, anything else is 404.
  * Tokens: X-Vault-Token or Authorization: Bearer; TTL countdown, explicit max TTL,
    lookup-self, renew-self (increment, capped by the max TTL), non-renewable tokens, use
    limits; missing/unknown/expired tokens get 403 in a selectable error-text style.
  * Namespaces: X-Vault-Namespace header and path-prefix forms, combined, with trailing-slash
    normalisation; a token only reaches its own namespace and the ones below it.
  * KV v2 under any mount (nested too): data/ reads with ?version=N (0 and -1 mean latest),
    writes, soft delete, undelete, destroy, metadata with custom_metadata; deleted or destroyed
    versions answer 404 with the full envelope (data null). KV v1 mounts. The
    sys/internal/ui/mounts/<path> detection endpoint; a v1-style path on a v2 mount is a 404
    with Vault's warning.
  * Per-path denial (glob patterns, per token or global) -> 403.
  * AppRole login (auth/<mount>/login) returning an auth block with TTLs.
  * sys/health and sys/seal-status, sealing (503 "Vault is sealed").
  * Fault injection switchable at run time: status codes (412/429/500/502/503 sealed, with or
    without Retry-After), 307 redirects to another origin or the same one, slow answers,
    connection reset mid-body, closing without an answer, truncated or invalid JSON, duplicate
    keys, wrong content type, gzip, huge bodies.
  * Request accounting per path and a log of request headers (so tests can prove the token
    never reached a redirect target), for the main and the "other origin" listener.

Three listeners on free loopback ports: the vault itself, an "other origin" (same scheme,
another port: a redirect target that records what it receives) and a plain-HTTP control port
for the tests (JSON POSTs, see Control below). The first line on stdout is a JSON object with
the ports. The double exits when its parent dies or after --timeout seconds, so a crashed test
never leaves it behind.
"""

import argparse
import ctypes
import fnmatch
import gzip
import json
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

MAX_SYSTEM_TTL = 32 * 24 * 3600  # Vault's default max lease TTL (768h)


def now_rfc3339(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


def parse_duration(v, default):
    """Vault accepts ints (seconds) or Go-style durations ("1h", "90s", "5m")."""
    if v is None or v == "":
        return default
    if isinstance(v, (int, float)):
        return int(v)
    s = str(v).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if s and s[-1] in units and s[:-1].isdigit():
        return int(s[:-1]) * units[s[-1]]
    if s.isdigit():
        return int(s)
    raise ValueError("invalid duration %r" % v)


def norm_ns(ns):
    ns = (ns or "").strip("/")
    return ns + "/" if ns else ""


class Token:
    def __init__(self, tid, ttl=0, max_ttl=0, renewable=True, policies=None, deny=None,
                 namespace="", num_uses=0, meta=None):
        self.id = tid
        self.accessor = uuid.uuid4().hex[:24]
        self.created = time.time()
        self.creation_ttl = int(ttl)
        self.explicit_max_ttl = int(max_ttl)
        self.renewable = bool(renewable) and ttl > 0
        self.policies = list(policies or ["default"])
        self.deny = list(deny or [])
        self.namespace = norm_ns(namespace)
        self.num_uses = int(num_uses)
        self.meta = meta
        self.expire_at = self.created + ttl if ttl > 0 else None
        cap = max_ttl if max_ttl > 0 else (MAX_SYSTEM_TTL if ttl > 0 else 0)
        self.max_expire_at = self.created + cap if cap > 0 else None
        self.revoked = False

    def valid(self):
        if self.revoked:
            return False
        return self.expire_at is None or time.time() < self.expire_at

    def ttl_left(self):
        return 0 if self.expire_at is None else max(0, int(round(self.expire_at - time.time())))


class Mount:
    def __init__(self, path, version=2):
        self.path = path.strip("/") + "/"
        self.version = int(version)
        self.secrets = {}  # v2: path -> {"versions": {n: {...}}, "current": n, "custom": {}}; v1: path -> data
        self.accessor = "kv_" + uuid.uuid4().hex[:8]


class State:
    def __init__(self, root_token):
        self.lock = threading.RLock()
        self.root_token = root_token
        self.reset()

    def reset(self):
        with self.lock:
            self.tokens = {}
            self.namespaces = {"": {}}  # ns -> {mount path: Mount}
            self.approles = {}  # mount -> {role_id: cfg}
            self.sealed = False
            self.deny = []
            self.faults = []
            self.error_style = "simple"
            self.counts = {}
            self.log = []
            self.other_log = []
            self.connections = 0
            self.namespaces[""]["secret/"] = Mount("secret", 2)
            if self.root_token:
                self.tokens[self.root_token] = Token(self.root_token, ttl=0, policies=["root"])

    def clear_stats(self):
        with self.lock:
            self.counts = {}
            self.log = []
            self.other_log = []
            self.connections = 0


STATE = None
ARGS = None


# ---------------------------------------------------------------- the vault API


class VaultError(Exception):
    def __init__(self, status, errors=None, body=None, headers=None):
        super().__init__(status)
        self.status = status
        self.errors = errors if errors is not None else []
        self.body = body
        self.headers = headers or {}


def denied():
    style = STATE.error_style
    if style == "multierror":
        errs = ["1 error occurred:\n\t* permission denied\n\n"]
    elif style == "invalid_token":
        errs = ["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"]
    else:
        errs = ["permission denied"]
    return VaultError(403, errs)


def envelope(data=None, auth=None, warnings=None, lease_duration=0, mount_type="kv"):
    env = {
        "request_id": str(uuid.uuid4()),
        "lease_id": "",
        "renewable": False,
        "lease_duration": lease_duration,
        "data": data,
        "wrap_info": None,
        "warnings": warnings,
        "auth": auth,
    }
    if mount_type:
        env["mount_type"] = mount_type
    return env


class VaultHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "VaultDouble/1.15"
    sys_version = ""
    role = "main"

    def log_message(self, fmt, *args):  # quiet unless asked
        if ARGS.verbose:
            sys.stderr.write("vault-double: " + (fmt % args) + "\n")

    # -- plumbing

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _json_body(self):
        raw = self._body()
        if not raw:
            return {}
        try:
            v = json.loads(raw)
        except ValueError:
            raise VaultError(400, ["failed to parse JSON input"])
        return v if isinstance(v, dict) else {}

    def _send(self, status, body, ctype="application/json", extra=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self):
        headers = {k: v for k, v in self.headers.items()}
        entry = {"method": self.command, "path": self.path, "headers": headers, "t": time.time()}
        with STATE.lock:
            if self.role == "other":
                STATE.other_log.append(entry)
            else:
                key = "%s %s" % (self.command, self.path)
                STATE.counts[key] = STATE.counts.get(key, 0) + 1
                STATE.log.append(entry)
            if len(STATE.log) > 5000:
                del STATE.log[:1000]

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def do_PUT(self):
        self._handle()

    def do_DELETE(self):
        self._handle()

    def do_LIST(self):
        self._handle()

    def _handle(self):
        self._record()
        if self.role == "other":
            # A redirect target: whatever it receives is logged; it answers like a vault would
            # so a client that followed would not notice.
            self._body()
            self._send(200, envelope({"data": {"value": "other-origin"}, "metadata": {"version": 1}}))
            return
        try:
            fault = self._take_fault()
            if fault and self._apply_fault_before(fault):
                return
            status, body, extra = self._route()
            if fault:
                self._apply_fault_after(fault, status, body, extra)
                return
            self._send(status, body, extra=extra)
        except VaultError as e:
            body = e.body if e.body is not None else {"errors": e.errors}
            self._send(e.status, body, extra=e.headers)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    # -- faults

    def _take_fault(self):
        with STATE.lock:
            for f in STATE.faults:
                if f["count"] == 0:
                    continue
                if f.get("method") and f["method"] != self.command:
                    continue
                if f.get("match") and f["match"] not in self.path:
                    continue
                if f["count"] > 0:
                    f["count"] -= 1
                f["hits"] = f.get("hits", 0) + 1
                return dict(f)
        return None

    def _location(self, fault):
        target = fault.get("location", "other")
        scheme = "https" if ARGS.cert else "http"
        if target == "other":
            return "%s://127.0.0.1:%d%s" % (scheme, OTHER_PORT, self.path)
        if target == "same":
            return "%s://127.0.0.1:%d%s" % (scheme, MAIN_PORT, self.path)
        if target == "relative":
            return self.path
        if target == "localhost":  # same port, another host name: another origin
            return "%s://localhost:%d%s" % (scheme, MAIN_PORT, self.path)
        return target

    def _apply_fault_before(self, f):
        kind = f["kind"]
        if kind == "delay":
            time.sleep(float(f.get("delay", 1)))
            return False
        if kind in ("status", "sealed", "ratelimit"):
            self._body()
            status = int(f.get("status", {"sealed": 503, "ratelimit": 429}.get(kind, 500)))
            errors = f.get("errors")
            if errors is None:
                errors = {503: ["Vault is sealed"], 429: ['request path "%s": rate limit quota exceeded' % self.path[4:]],
                          412: ["required index state not present"], 502: ["upstream error"]}.get(status, ["internal error"])
            extra = {}
            if f.get("retry_after") is not None:
                extra["Retry-After"] = f["retry_after"]
            if "delay" in f:
                time.sleep(float(f["delay"]))
            self._send(status, {"errors": errors}, extra=extra)
            return True
        if kind == "redirect":
            self._body()
            self._send(int(f.get("status", 307)), "", ctype=None, extra={"Location": self._location(f)})
            return True
        if kind == "close":  # no answer at all
            self._body()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if kind == "reset":  # headers and part of the body, then a TCP reset
            self._body()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"request_id":"x","data":{"data":{"val')
            self.wfile.flush()
            self.close_connection = True
            raw = self.connection
            try:
                raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            raw.close()
            return True
        if kind == "invalid_json":
            self._body()
            self._send(int(f.get("status", 200)), "{this is not json")
            return True
        if kind == "huge":
            self._body()
            size = int(f.get("size", 2 << 20))
            pad = "A" * size
            self._send(200, '{"data":{"data":{"value":"x","pad":"%s"},"metadata":{"version":1}}}' % pad)
            return True
        if kind == "duplicate_keys":
            self._body()
            self._send(200, '{"data":{"data":{"value":"a"},"metadata":{"version":1}},'
                            '"data":{"data":{"value":"b"},"metadata":{"version":1}}}')
            return True
        return False

    def _apply_fault_after(self, f, status, body, extra):
        kind = f["kind"]
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        if kind == "truncate":
            self._send(status, data[: max(1, len(data) // 2)], extra=extra)
        elif kind == "content_type":
            self._send(status, data, ctype=f.get("content_type", "text/html"), extra=extra)
        elif kind == "gzip":
            extra = dict(extra or {})
            extra["Content-Encoding"] = "gzip"
            self._send(status, gzip.compress(data), extra=extra)
        else:
            self._send(status, data, extra=extra)

    # -- routing

    def _route(self):
        u = urlsplit(self.path)
        if not u.path.startswith("/v1/"):
            raise VaultError(404, [])
        path = unquote(u.path[4:])  # Vault routes on the decoded path
        query = parse_qs(u.query)
        method = self.command
        if method == "GET" and query.get("list", [""])[0] == "true":
            method = "LIST"
        if path.startswith("sys/health"):
            return self._health(query)
        if path == "sys/seal-status":
            return 200, self._seal_status(), {}
        if STATE.sealed:
            raise VaultError(503, ["Vault is sealed"])
        ns = norm_ns(self.headers.get("X-Vault-Namespace"))
        with STATE.lock:
            if ns and ns not in STATE.namespaces:
                raise denied()
            # path-prefix namespace form, combined with the header
            while True:
                first = path.split("/", 1)[0]
                cand = ns + first + "/"
                if first and cand in STATE.namespaces and "/" in path:
                    ns = cand
                    path = path.split("/", 1)[1]
                else:
                    break
        login = self._approle_mount(ns, path)
        if login is not None:
            return self._approle_login(ns, login)
        token = self._auth(ns, path)
        if path == "auth/token/lookup-self":
            return 200, envelope(self._lookup_data(token), mount_type="token"), {}
        if path == "auth/token/renew-self":
            return self._renew(token)
        if path.startswith("sys/internal/ui/mounts/"):
            return self._ui_mounts(ns, path[len("sys/internal/ui/mounts/"):])
        return self._kv(ns, path, method, query)

    def _health(self, query):
        body = {"initialized": True, "sealed": STATE.sealed, "standby": False,
                "performance_standby": False, "replication_performance_mode": "disabled",
                "replication_dr_mode": "disabled", "server_time_utc": int(time.time()),
                "version": "1.15.0+double", "cluster_name": "vault-double",
                "cluster_id": "00000000-0000-0000-0000-000000000000"}
        if STATE.sealed:
            return int(query.get("sealedcode", ["503"])[0]), body, {}
        return 200, body, {}

    def _seal_status(self):
        return {"type": "shamir", "initialized": True, "sealed": STATE.sealed, "t": 1, "n": 1,
                "progress": 0, "nonce": "", "version": "1.15.0+double", "build_date": "",
                "migration": False, "recovery_seal": False, "storage_type": "inmem"}

    def _auth(self, ns, path):
        tid = self.headers.get("X-Vault-Token")
        if not tid:
            authz = self.headers.get("Authorization", "")
            if authz.startswith("Bearer "):
                tid = authz[7:].strip()
        with STATE.lock:
            tok = STATE.tokens.get(tid) if tid else None
            if tok is None or not tok.valid():
                raise denied()
            if not ns.startswith(tok.namespace):
                raise denied()
            if tok.num_uses:
                tok.num_uses -= 1
                if tok.num_uses == 0:
                    tok.revoked = True
            full = ns + path
            if not path.startswith("auth/token/"):
                for pat in STATE.deny + tok.deny:
                    if fnmatch.fnmatchcase(full, pat) or fnmatch.fnmatchcase(path, pat):
                        raise denied()
            return tok

    def _lookup_data(self, tok):
        return {"accessor": tok.accessor, "creation_time": int(tok.created),
                "creation_ttl": tok.creation_ttl, "display_name": "token", "entity_id": "",
                "expire_time": now_rfc3339(tok.expire_at) if tok.expire_at else None,
                "explicit_max_ttl": tok.explicit_max_ttl, "id": tok.id,
                "issue_time": now_rfc3339(tok.created), "meta": tok.meta,
                "num_uses": tok.num_uses, "orphan": True, "path": "auth/token/create",
                "policies": tok.policies, "renewable": tok.renewable, "ttl": tok.ttl_left(),
                "type": "service"}

    def _auth_block(self, tok):
        return {"client_token": tok.id, "accessor": tok.accessor, "policies": tok.policies,
                "token_policies": tok.policies, "identity_policies": None,
                "metadata": tok.meta, "lease_duration": tok.ttl_left(),
                "renewable": tok.renewable, "entity_id": "", "token_type": "service",
                "orphan": True, "mfa_requirement": None, "num_uses": tok.num_uses}

    def _renew(self, tok):
        if self.command not in ("POST", "PUT"):
            raise VaultError(405, ["unsupported operation"])
        body = self._json_body()
        with STATE.lock:
            if not tok.renewable:
                raise VaultError(400, ["lease is not renewable"])
            try:
                inc = parse_duration(body.get("increment"), tok.creation_ttl)
            except ValueError:
                raise VaultError(400, ["invalid increment"])
            now = time.time()
            new_exp = now + inc
            if tok.max_expire_at is not None and new_exp > tok.max_expire_at:
                new_exp = tok.max_expire_at
            tok.expire_at = max(now, new_exp)
            warnings = None
            if tok.max_expire_at is not None and new_exp >= tok.max_expire_at and inc > 0:
                warnings = ["TTL of %ds exceeded the effective max_ttl; TTL value is capped accordingly" % inc]
            return 200, envelope(None, auth=self._auth_block(tok), warnings=warnings, mount_type="token"), {}

    def _approle_mount(self, ns, path):
        if not path.startswith("auth/") or not path.endswith("/login"):
            return None
        mount = path[len("auth/"):-len("/login")]
        with STATE.lock:
            return mount if mount in STATE.approles else None

    def _approle_login(self, ns, mount):
        if self.command not in ("POST", "PUT"):
            raise VaultError(405, ["unsupported operation"])
        body = self._json_body()
        with STATE.lock:
            roles = STATE.approles[mount]
            cfg = roles.get(body.get("role_id"))
            if cfg is None or cfg["secret_id"] != body.get("secret_id"):
                raise VaultError(400, ["invalid role or secret ID"])
            cfg["logins"] = cfg.get("logins", 0) + 1
            tid = "hvs." + uuid.uuid4().hex
            tok = Token(tid, ttl=cfg.get("token_ttl", 3600), max_ttl=cfg.get("token_max_ttl", 0),
                        renewable=cfg.get("renewable", True), policies=cfg.get("policies", ["default"]),
                        deny=cfg.get("deny", []), namespace=ns, meta={"role_name": cfg.get("name", "role")})
            STATE.tokens[tid] = tok
            return 200, envelope(None, auth=self._auth_block(tok), mount_type=""), {}

    def _find_mount(self, ns, path):
        mounts = STATE.namespaces.get(ns, {})
        best = None
        for mp, m in mounts.items():
            if (path + "/").startswith(mp) and (best is None or len(mp) > len(best.path)):
                best = m
        return best

    def _ui_mounts(self, ns, path):
        with STATE.lock:
            m = self._find_mount(ns, path)
            if m is None:
                raise VaultError(400, ["Preflight capability check returned 403, please ensure client's policies grant access to path \"%s/\"" % path])
            data = {"type": "kv", "description": "", "accessor": m.accessor,
                    "config": {"default_lease_ttl": 0, "max_lease_ttl": 0, "force_no_cache": False},
                    "local": False, "seal_wrap": False, "external_entropy_access": False,
                    "options": {"version": str(m.version)}, "path": m.path,
                    "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, ns + m.path)), "plugin_version": "",
                    "running_plugin_version": "v0.16.1+builtin", "running_sha256": ""}
            return 200, envelope(data, mount_type=""), {}

    # -- KV

    def _kv(self, ns, path, method, query):
        with STATE.lock:
            m = self._find_mount(ns, path)
            if m is None:
                raise VaultError(404, ["no handler for route \"%s\". route entry not found." % path])
            rest = path[len(m.path):]
            if m.version == 1:
                return self._kv1(m, rest, method)
            op, _, sub = rest.partition("/")
            if op == "data":
                return self._kv2_data(m, sub, method, query)
            if op == "metadata":
                return self._kv2_metadata(m, sub, method)
            if op in ("delete", "undelete", "destroy"):
                return self._kv2_versions_op(m, op, sub, method)
            if op == "config":
                return 200, envelope({"cas_required": False, "delete_version_after": "0s", "max_versions": 0}), {}
            # a v1-style path on a v2 mount
            raise VaultError(404, [], body={"errors": [], "warnings": [
                "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. "
                "If using the Vault CLI, use 'vault kv get' for this operation."]})

    def _kv1(self, m, key, method):
        if method in ("POST", "PUT"):
            body = self._json_body()
            m.secrets[key] = body
            return 204, b"", {}
        if method == "DELETE":
            m.secrets.pop(key, None)
            return 204, b"", {}
        if method == "LIST":
            keys = sorted({k[len(key):].split("/")[0] + ("/" if "/" in k[len(key):] else "")
                           for k in m.secrets if k.startswith(key)})
            if not keys:
                raise VaultError(404, [])
            return 200, envelope({"keys": keys}), {}
        if key not in m.secrets:
            raise VaultError(404, [])
        return 200, envelope(m.secrets[key], lease_duration=2764800), {}

    @staticmethod
    def _meta(s, n):
        v = s["versions"][n]
        return {"created_time": v["created_time"], "custom_metadata": s.get("custom") or None,
                "deletion_time": v["deletion_time"], "destroyed": v["destroyed"], "version": n}

    def _kv2_data(self, m, key, method, query):
        if not key:
            raise VaultError(404, [], body={"errors": [], "warnings": ["Non-listing operations on the root of a K/V v2 mount are not supported."]})
        if method in ("POST", "PUT"):
            body = self._json_body()
            return self._kv2_write(m, key, body.get("data"), None)
        if method == "DELETE":
            s = m.secrets.get(key)
            if s and s["current"]:
                s["versions"][s["current"]]["deletion_time"] = now_rfc3339()
            return 204, b"", {}
        s = m.secrets.get(key)
        try:
            want = int(query.get("version", ["0"])[0])
        except ValueError:
            raise VaultError(400, ["invalid version"])
        if s is None:
            raise VaultError(404, [])
        n = want if want > 0 else s["current"]
        if n not in s["versions"]:
            raise VaultError(404, [])
        v = s["versions"][n]
        env = envelope({"data": None if (v["deletion_time"] or v["destroyed"]) else v["data"],
                        "metadata": self._meta(s, n)})
        if v["deletion_time"] or v["destroyed"]:
            raise VaultError(404, body=env)
        return 200, env, {}

    def _kv2_write(self, m, key, data, custom):
        if not isinstance(data, dict):
            raise VaultError(400, ["no data provided"])
        s = m.secrets.setdefault(key, {"versions": {}, "current": 0, "custom": {}})
        n = max(s["versions"].keys() or [0]) + 1
        s["versions"][n] = {"data": data, "created_time": now_rfc3339(), "deletion_time": "", "destroyed": False}
        s["current"] = n
        if custom is not None:
            s["custom"] = custom
        meta = self._meta(s, n)
        return 200, envelope(meta), {}

    def _kv2_metadata(self, m, key, method):
        if method == "LIST":
            keys = sorted({k[len(key):].split("/")[0] + ("/" if "/" in k[len(key):] else "")
                           for k in m.secrets if k.startswith(key)})
            if not keys:
                raise VaultError(404, [])
            return 200, envelope({"keys": keys}), {}
        s = m.secrets.get(key)
        if method in ("POST", "PUT"):
            body = self._json_body()
            s = m.secrets.setdefault(key, {"versions": {}, "current": 0, "custom": {}})
            if "custom_metadata" in body:
                s["custom"] = body["custom_metadata"]
            return 204, b"", {}
        if method == "DELETE":
            m.secrets.pop(key, None)
            return 204, b"", {}
        if s is None:
            raise VaultError(404, [])
        versions = {str(n): {"created_time": v["created_time"], "deletion_time": v["deletion_time"],
                             "destroyed": v["destroyed"]} for n, v in s["versions"].items()}
        first = s["versions"][min(s["versions"])] if s["versions"] else None
        data = {"cas_required": False, "created_time": first["created_time"] if first else "",
                "current_version": s["current"], "custom_metadata": s.get("custom") or None,
                "delete_version_after": "0s", "max_versions": 0,
                "oldest_version": min(s["versions"]) if s["versions"] else 0,
                "updated_time": s["versions"][s["current"]]["created_time"] if s["current"] else "",
                "versions": versions}
        return 200, envelope(data), {}

    def _kv2_versions_op(self, m, op, key, method):
        if method not in ("POST", "PUT"):
            raise VaultError(405, ["unsupported operation"])
        body = self._json_body()
        s = m.secrets.get(key)
        if s is None:
            return 204, b"", {}
        for n in body.get("versions", []):
            v = s["versions"].get(int(n))
            if not v:
                continue
            if op == "delete":
                v["deletion_time"] = now_rfc3339()
            elif op == "undelete" and not v["destroyed"]:
                v["deletion_time"] = ""
            elif op == "destroy":
                v["destroyed"] = True
                v["data"] = None
        return 204, b"", {}


class OtherHandler(VaultHandler):
    role = "other"


# ---------------------------------------------------------------- control API


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write("vault-double control: " + (fmt % args) + "\n")

    def _reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/stats"):
            with STATE.lock:
                total = sum(STATE.counts.values())
                self._reply(200, {"requests": STATE.counts, "total": total,
                                  "connections": STATE.connections, "log": STATE.log,
                                  "other": STATE.other_log,
                                  "logins": {m: {r: c.get("logins", 0) for r, c in roles.items()}
                                             for m, roles in STATE.approles.items()},
                                  "faults": STATE.faults})
            return
        self._reply(404, {"error": "unknown"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(n) or b"{}")
            out = self._op(self.path.strip("/"), body)
            self._reply(200, out if out is not None else {"ok": True})
        except (KeyError, ValueError, TypeError) as e:
            self._reply(400, {"error": repr(e)})

    def _op(self, op, b):
        with STATE.lock:
            if op == "reset":
                STATE.reset()
            elif op == "stats/clear":
                STATE.clear_stats()
            elif op == "seal":
                STATE.sealed = bool(b.get("sealed", True))
            elif op == "error_style":
                STATE.error_style = b["style"]
            elif op == "namespace":
                STATE.namespaces.setdefault(norm_ns(b["path"]), {})
            elif op == "mount":
                ns = norm_ns(b.get("namespace"))
                STATE.namespaces.setdefault(ns, {})
                m = Mount(b["path"], b.get("version", 2))
                STATE.namespaces[ns][m.path] = m
            elif op == "token":
                tid = b.get("id") or "hvs." + uuid.uuid4().hex
                STATE.tokens[tid] = Token(tid, ttl=parse_duration(b.get("ttl"), 0),
                                          max_ttl=parse_duration(b.get("max_ttl"), 0),
                                          renewable=b.get("renewable", True),
                                          policies=b.get("policies"), deny=b.get("deny"),
                                          namespace=b.get("namespace", ""),
                                          num_uses=b.get("num_uses", 0))
                return {"id": tid}
            elif op == "token/expire":
                STATE.tokens[b["id"]].expire_at = time.time() - 1
            elif op == "tokens/expire_all":  # every token but the root token
                for t in STATE.tokens.values():
                    if t.id != STATE.root_token:
                        t.expire_at = time.time() - 1
            elif op == "token/revoke":
                STATE.tokens[b["id"]].revoked = True
            elif op == "approle":
                mount = b.get("mount", "approle")
                STATE.approles.setdefault(mount, {})[b["role_id"]] = {
                    "secret_id": b["secret_id"], "token_ttl": parse_duration(b.get("token_ttl"), 3600),
                    "token_max_ttl": parse_duration(b.get("token_max_ttl"), 0),
                    "renewable": b.get("renewable", True), "policies": b.get("policies", ["default"]),
                    "deny": b.get("deny", []), "name": b.get("name", "role")}
            elif op == "deny":
                STATE.deny = list(b.get("patterns", []))
            elif op == "kv":
                return self._kv(b)
            elif op in ("kv/delete", "kv/destroy", "kv/undelete"):
                m = self._mount(b)
                s = m.secrets[b["path"]]
                for n in b.get("versions") or [s["current"]]:
                    v = s["versions"][int(n)]
                    if op == "kv/delete":
                        v["deletion_time"] = now_rfc3339()
                    elif op == "kv/undelete":
                        v["deletion_time"] = ""
                    else:
                        v["destroyed"] = True
                        v["data"] = None
            elif op == "fault":
                f = dict(b)
                f.setdefault("count", 1)
                f["hits"] = 0
                STATE.faults.append(f)
                return {"index": len(STATE.faults) - 1}
            elif op == "faults/clear":
                STATE.faults = []
            else:
                raise KeyError(op)
        return None

    def _mount(self, b):
        ns = norm_ns(b.get("namespace"))
        mp = b.get("mount", "secret").strip("/") + "/"
        return STATE.namespaces[ns][mp]

    def _kv(self, b):
        m = self._mount(b)
        if m.version == 1:
            m.secrets[b["path"]] = b["data"]
            return {"version": None}
        s = m.secrets.setdefault(b["path"], {"versions": {}, "current": 0, "custom": {}})
        n = max(s["versions"].keys() or [0]) + 1
        s["versions"][n] = {"data": b["data"], "created_time": now_rfc3339(), "deletion_time": "", "destroyed": False}
        s["current"] = n
        if "custom_metadata" in b:
            s["custom"] = b["custom_metadata"]
        return {"version": n}


# ---------------------------------------------------------------- servers


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    tls = None

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the connection's own thread, not in the accept loop.
        if self.tls is not None:
            try:
                request.settimeout(10)
                request = self.tls.wrap_socket(request, server_side=True)
                request.settimeout(None)
            except (ssl.SSLError, OSError):
                return
        if self.RequestHandlerClass is VaultHandler:
            with STATE.lock:
                STATE.connections += 1
        try:
            super().finish_request(request, client_address)
        except (ConnectionError, ssl.SSLError, OSError):
            pass

    def handle_error(self, request, client_address):
        if ARGS.verbose:
            super().handle_error(request, client_address)


def make_tls(args):
    if not args.cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.client_ca)
    return ctx


def watch_parent(ppid, deadline):
    while True:
        time.sleep(0.2)
        if os.getppid() != ppid or time.time() > deadline:
            os._exit(0)


def main():
    global STATE, ARGS, MAIN_PORT, OTHER_PORT
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--client-ca", help="require client certificates signed by this CA")
    p.add_argument("--root-token", default="root")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600, help="exit after this many seconds")
    p.add_argument("--port-file", help="also write the ports JSON here")
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()
    # Die with the parent (Linux): PR_SET_PDEATHSIG, plus a watchdog for the other cases.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    ppid = os.getppid()
    threading.Thread(target=watch_parent, args=(ppid, time.time() + ARGS.timeout), daemon=True).start()

    STATE = State(ARGS.root_token)
    tls = make_tls(ARGS)
    main_srv = Server(("127.0.0.1", ARGS.port), VaultHandler)
    other_srv = Server(("127.0.0.1", 0), OtherHandler)
    ctl_srv = Server(("127.0.0.1", 0), ControlHandler)
    main_srv.tls = tls
    other_srv.tls = tls
    MAIN_PORT = main_srv.server_address[1]
    OTHER_PORT = other_srv.server_address[1]
    info = {"port": MAIN_PORT, "other_port": OTHER_PORT, "control_port": ctl_srv.server_address[1],
            "scheme": "https" if tls else "http", "pid": os.getpid()}
    for srv in (main_srv, other_srv, ctl_srv):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    line = json.dumps(info)
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(line + "\n")
        os.rename(tmp, ARGS.port_file)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


MAIN_PORT = 0
OTHER_PORT = 0

if __name__ == "__main__":
    main()

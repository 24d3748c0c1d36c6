#!/usr/bin/python3
"""Conformance check of the vault double against a real Vault client: python3-hvac (Debian).

Starts the double over TLS (certificates made here with openssl), then drives it with hvac the
way an application would: KV v2 reads (latest and pinned), a soft-deleted version, KV v1, token
lookup-self and renew-self, AppRole login, namespaces, and a denied path raising Forbidden.
If hvac can use the double unchanged, the double's wire format is what a real client expects.
Exit 77 (skip) when hvac or openssl is missing.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

try:
    import hvac
    import hvac.exceptions
except ImportError:
    print("# SKIP python3-hvac is not installed (apt-get install python3-hvac)")
    sys.exit(77)

if not shutil.which("openssl"):
    print("# SKIP openssl is not installed")
    sys.exit(77)


def make_certs(d):
    def run(*args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=vault-double test CA", "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
    with open(d + "/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", d + "/server.key", "-out", d + "/server.csr")
    run("openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem",
        "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", d + "/ext.cnf",
        "-out", d + "/server.pem")


def control(port, op, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d/%s" % (port, op),
                                 data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())


failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok - " + what)
    else:
        failures += 1
        print("not ok - " + what)


def expect_raises(exc, fn, what):
    try:
        fn()
    except exc:
        check(True, what)
        return
    except Exception as e:  # noqa: BLE001 - report the surprise
        check(False, "%s (raised %r)" % (what, e))
        return
    check(False, what + " (no exception)")


def main():
    d = tempfile.mkdtemp(prefix="vault-double-hvac.")
    proc = None
    try:
        make_certs(d)
        proc = subprocess.Popen([sys.executable, HERE + "/vault_double.py", "--cert", d + "/server.pem",
                                 "--key", d + "/server.key", "--timeout", "120"],
                                stdout=subprocess.PIPE, text=True)
        info = json.loads(proc.stdout.readline())
        url = "https://127.0.0.1:%d" % info["port"]
        ctl = info["control_port"]
        ca = d + "/ca.pem"

        control(ctl, "kv", {"path": "shop/db", "data": {"value": "v1-secret"}})
        control(ctl, "kv", {"path": "shop/db", "data": {"value": "v2-secret", "port": 5432},
                            "custom_metadata": {"owner": "platform"}})
        control(ctl, "kv", {"path": "shop/old", "data": {"value": "gone"}})
        control(ctl, "kv/delete", {"path": "shop/old"})
        control(ctl, "mount", {"path": "kv", "version": 1})
        control(ctl, "kv", {"mount": "kv", "path": "legacy", "data": {"value": "flat"}})
        control(ctl, "mount", {"path": "teams/kv", "version": 2})
        control(ctl, "kv", {"mount": "teams/kv", "path": "a/b", "data": {"value": "nested"}})
        control(ctl, "namespace", {"path": "ns1"})
        control(ctl, "mount", {"namespace": "ns1", "path": "secret", "version": 2})
        control(ctl, "kv", {"namespace": "ns1", "mount": "secret", "path": "x", "data": {"value": "in-ns1"}})
        tok = control(ctl, "token", {"ttl": "1h", "max_ttl": "2h", "deny": ["secret/data/private/*"]})["id"]
        control(ctl, "approle", {"role_id": "role-1", "secret_id": "sec-1", "token_ttl": 600})

        c = hvac.Client(url=url, token=tok, verify=ca)
        check(c.is_authenticated(), "is_authenticated (lookup-self)")
        r = c.secrets.kv.v2.read_secret_version(path="shop/db")
        check(r["data"]["data"]["value"] == "v2-secret", "kv v2 read latest")
        check(r["data"]["metadata"]["version"] == 2, "kv v2 metadata version")
        check(r["data"]["metadata"]["custom_metadata"] == {"owner": "platform"}, "custom_metadata")
        check(r["data"]["data"]["port"] == 5432, "non-string values")
        r = c.secrets.kv.v2.read_secret_version(path="shop/db", version=1)
        check(r["data"]["data"]["value"] == "v1-secret", "kv v2 read pinned version 1")
        expect_raises(hvac.exceptions.InvalidPath,
                      lambda: c.secrets.kv.v2.read_secret_version(path="shop/old"),
                      "soft-deleted version is 404 (InvalidPath)")
        expect_raises(hvac.exceptions.InvalidPath,
                      lambda: c.secrets.kv.v2.read_secret_version(path="shop/nope"),
                      "missing secret is 404 (InvalidPath)")
        r = c.secrets.kv.v2.read_secret_version(path="a/b", mount_point="teams/kv")
        check(r["data"]["data"]["value"] == "nested", "kv v2 under a nested mount")
        r = c.secrets.kv.v1.read_secret(path="legacy", mount_point="kv")
        check(r["data"] == {"value": "flat"} and r["lease_duration"] > 0, "kv v1 read")
        r = c.secrets.kv.v2.create_or_update_secret(path="shop/new", secret={"value": "w"})
        check(r["data"]["version"] == 1, "kv v2 write through the API")
        r = c.secrets.kv.v2.read_secret_metadata(path="shop/db")
        check(r["data"]["current_version"] == 2, "kv v2 metadata read")
        r = c.auth.token.lookup_self()
        check(r["data"]["id"] == tok and 0 < r["data"]["ttl"] <= 3600 and r["data"]["renewable"],
              "lookup-self")
        r = c.auth.token.renew_self(increment="30m")
        check(r["auth"]["lease_duration"] == 1800 and r["auth"]["renewable"], "renew-self with increment")
        expect_raises(hvac.exceptions.Forbidden,
                      lambda: c.secrets.kv.v2.read_secret_version(path="private/key"),
                      "denied path raises Forbidden")
        bearer = hvac.Client(url=url, verify=ca)
        bearer._adapter.session.headers["Authorization"] = "Bearer " + tok
        check(bearer.secrets.kv.v2.read_secret_version(path="shop/db")["data"]["data"]["value"] == "v2-secret",
              "Authorization: Bearer accepted")
        ns = hvac.Client(url=url, token=tok, verify=ca, namespace="ns1")
        check(ns.secrets.kv.v2.read_secret_version(path="x")["data"]["data"]["value"] == "in-ns1",
              "namespace header")
        r = c.adapter.get("/v1/ns1/secret/data/x")
        check(r["data"]["data"]["value"] == "in-ns1", "namespace path prefix")
        a = hvac.Client(url=url, verify=ca)
        r = a.auth.approle.login(role_id="role-1", secret_id="sec-1")
        check(r["auth"]["lease_duration"] == 600 and a.token == r["auth"]["client_token"], "AppRole login")
        check(a.secrets.kv.v2.read_secret_version(path="shop/db")["data"]["data"]["value"] == "v2-secret",
              "read with the AppRole token")
        expect_raises(hvac.exceptions.InvalidRequest,
                      lambda: hvac.Client(url=url, verify=ca).auth.approle.login(role_id="role-1", secret_id="bad"),
                      "bad secret_id is 400 (InvalidRequest)")
        r = c.adapter.get("/v1/sys/internal/ui/mounts/teams/kv/a/b")
        check(r["data"]["options"]["version"] == "2" and r["data"]["path"] == "teams/kv/", "mount detection")
        check(not c.sys.is_sealed(), "seal-status")
        control(ctl, "seal", {"sealed": True})
        check(c.sys.is_sealed(), "sealed seal-status")
        expect_raises(hvac.exceptions.VaultDown,
                      lambda: c.secrets.kv.v2.read_secret_version(path="shop/db"),
                      "sealed vault raises VaultDown (503)")
        control(ctl, "seal", {"sealed": False})
        control(ctl, "fault", {"kind": "ratelimit", "retry_after": 3})
        expect_raises(hvac.exceptions.RateLimitExceeded,
                      lambda: c.secrets.kv.v2.read_secret_version(path="shop/db"),
                      "429 raises RateLimitExceeded")
        control(ctl, "token/expire", {"id": tok})
        expect_raises(hvac.exceptions.Forbidden, lambda: c.auth.token.lookup_self(),
                      "expired token is 403")
        check(not c.is_authenticated(), "expired token is not authenticated")
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(d, ignore_errors=True)
    print("hvac %s: %d failure(s)" % (getattr(hvac, "__version__", "?"), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# The vault double against the real python3-hvac client (Debian package): its wire format must
# be what a real Vault client expects. Uses /usr/bin/python3, where Debian installs hvac.
set -eu
[ -x /usr/bin/python3 ] || { echo "# SKIP /usr/bin/python3 missing"; exit 77; }
exec /usr/bin/python3 "$OCIRENDER_SRC/tests/vault_double/test_hvac.py"

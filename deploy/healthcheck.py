"""Container health probe: exit 0 when this container's scrobbler process answers 200.

Installed in the image as ``/usr/local/bin/scrobbler-healthcheck`` and run by the
Dockerfile's HEALTHCHECK (slim images have no curl). Probes ``/readyz`` by default
(stream and database reachable); pass another path, e.g. ``/healthz``, as the first
argument. Uses SCROBBLER_PORT (default 8080) and, unless the server binds every
interface, SCROBBLER_HOST.
"""

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "/readyz"
    host = os.environ.get("SCROBBLER_HOST", "") or "0.0.0.0"
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = os.environ.get("SCROBBLER_PORT", "") or "8080"
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

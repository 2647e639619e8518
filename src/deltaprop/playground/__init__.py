"""``deltaprop playground``: backpropagation to play with in the browser.

The page draws what the server sends and computes none of the math itself: the network
is a real :class:`~deltaprop.network.Network` in the server, trained by deltaprop's own
loop (:class:`~deltaprop.training.Trainer`), and every number shown is the library's.
Needs the ``playground`` extra (``pip install "deltaprop[playground]"``: Starlette and
uvicorn); the page itself is static files shipped in the package, working offline.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading
import webbrowser


def serve(*, host: str = "127.0.0.1", port: int = 8765, model: str | os.PathLike[str] | None = None,
          data: str | os.PathLike[str] | None = None, open_browser: bool = True,
          max_upload: int | None = None) -> None:
    """Serve the playground on ``host:port`` until interrupted, opening it in a browser."""
    try:
        import uvicorn
    except ImportError:
        raise ImportError('The playground needs its extra: pip install "deltaprop[playground]" '
                          "(Starlette and uvicorn).") from None
    from ..errors import ValidationError
    from .app import MAX_UPLOAD, create_app
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ValidationError(f"The 'port' argument must be a whole number from 0 to 65535; got {port!r}.")
    app = create_app(model=model, data=data, max_upload=max_upload or MAX_UPLOAD)
    try:
        # bound here, before uvicorn, so that a taken port or an unknown host is a clear error
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        error = ValidationError(f"The playground cannot listen on {host} port {port}: {e.strerror or e}.")
        error.cli = f"cannot listen on --host {host} --port {port}: {e.strerror or e} (pick another --port)"
        raise error from None
    port = sock.getsockname()[1]
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"
    if not _is_loopback(host):
        print(f"deltaprop playground: listening on {host}: anyone who can reach this machine on port {port} can "
              "use it (and its CPU). Pass --host 127.0.0.1 to keep it to this machine.", file=sys.stderr)
    print(f"deltaprop playground: {url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        threading.Timer(0.8, webbrowser.open, [url]).start()
    # no per-message deflate: the states are compressed and inflated ~20 times a second,
    # which costs more than sending them uncompressed over loopback
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_max_size=16 * 2**20,
                                           ws_per_message_deflate=False))
    server.run(sockets=[sock])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
